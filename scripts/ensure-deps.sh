#!/usr/bin/env bash
# Installs what `make dev` and `make test` need and a fresh Debian machine
# lacks: npm packages (from package-lock.json) and Debian's Chromium for the
# browser tests. PostgreSQL's server binaries must be installed (they are
# found under /usr/lib/postgresql/*/bin); the tests start their own cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

# Another apt process (unattended upgrades, a second checkout's first run)
# may hold apt's locks: wait for it rather than fail. DPkg::Lock::Timeout
# covers the dpkg lock of install; apt-get update takes the lists lock
# without waiting, so it is retried until the same deadline.
apt_wait=600

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  local deadline=$((SECONDS + apt_wait)) out
  until out=$($sudo apt-get -o DPkg::Lock::Timeout=$apt_wait update -qq 2>&1); do
    if ! grep -qiE 'could not get lock|unable to lock' <<<"$out" || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$out" >&2
      return 1
    fi
    echo "ensure-deps: another apt process holds the lock; waiting"
    sleep 5
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=$apt_wait install -y -qq --no-install-recommends "$@"
}

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  echo "ensure-deps: installing PostgreSQL server binaries"
  apt_install postgresql
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-deps: installing Debian's chromium for the browser tests"
  apt_install chromium
fi

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "ensure-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
