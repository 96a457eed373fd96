#!/usr/bin/env bash
# Runs make targets one after the other and prints how long each took, so a
# slow step shows up in every `make test` log. It stops at the first failing
# step (later steps are listed as not run) and exits with that step's status.
# Usage: timed-steps.sh MAKE STEP...
set -uo pipefail
make=$1
shift

steps=("$@")
declare -a took result
status=0
t0=$EPOCHREALTIME
for i in "${!steps[@]}"; do
  start=$EPOCHREALTIME
  $make --no-print-directory "${steps[$i]}"
  rc=$?
  took[$i]=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [ "$rc" -ne 0 ]; then
    result[$i]="FAILED ($rc)"
    status=$rc
    break
  fi
  result[$i]=ok
done
total=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

echo
echo "step            seconds  result"
for i in "${!steps[@]}"; do
  printf '%-14s %8s  %s\n' "${steps[$i]}" "${took[$i]:--}" "${result[$i]:-not run}"
done
printf '%-14s %8s  (%s min)\n' total "$total" "$(awk -v s="$total" 'BEGIN { printf "%.1f", s / 60 }')"
exit "$status"
