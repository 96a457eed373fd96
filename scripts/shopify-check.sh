#!/usr/bin/env bash
# Validates shopify.app.toml and every extension under extensions/ offline with
# Shopify's own CLI (`shopify app build`): schema errors make the CLI exit 1;
# theme check offenses are printed as "[error]: ..." lines while the CLI still
# exits 0, so we also fail on those.
#
# Works without a Shopify login or network access (CI=1 keeps the CLI
# non-interactive; analytics are off). Dependencies are expected to be installed
# already (`npm ci`), so the CLI's own "Installing dependencies" step is skipped
# and cannot rewrite package-lock.json.
set -uo pipefail

cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/shopify ]; then
  echo "shopify-check: node_modules/.bin/shopify missing; run 'npm ci' first" >&2
  exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

CI=1 SHOPIFY_CLI_NO_ANALYTICS=1 SHOPIFY_CLI_NO_UPDATE_CHECK=1 \
  node_modules/.bin/shopify app build --path . --skip-dependencies-installation --no-color \
  </dev/null >"$log" 2>&1
status=$?

cat "$log"

if [ "$status" -ne 0 ]; then
  echo "shopify-check: FAILED: 'shopify app build' exited with status $status" >&2
  exit 1
fi
if grep -q '\[error\]' "$log"; then
  echo "shopify-check: FAILED: 'shopify app build' reported errors:" >&2
  grep '\[error\]' "$log" >&2
  exit 1
fi
echo "shopify-check: OK"
