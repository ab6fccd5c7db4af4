#!/usr/bin/env bash
# Checks deploy/systemd/*.service with systemd-analyze: `verify` (syntax,
# unknown keys, executables) must print nothing, and `security --offline`
# must rate each unit's sandbox at most 5.0 ("MEDIUM") exposure.
# The units name /usr/local/bin/...; the check points them at this build's
# binaries. Exit 77 (ctest: skipped) where systemd-analyze is missing.
set -euo pipefail
source_dir="$1"
build_dir="$2"
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIPPED: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for unit in "$source_dir"/deploy/systemd/*.service; do
  sed -e "s|/usr/local/bin/expsvc-scheduler|$build_dir/server/expsvc-scheduler|g" \
      -e "s|/usr/local/bin/expsvc-worker|$build_dir/worker/expsvc-worker|g" \
      -e "s|/usr/local/bin/expsvc-dashboard|$build_dir/client/web/expsvc-dashboard|g" \
      "$unit" > "$work/$(basename "$unit")"
done
status=0
for unit in "$work"/*.service; do
  name="$(basename "$unit")"
  output="$(systemd-analyze verify "$unit" 2>&1)" || { echo "$name: verify failed:"; echo "$output"; status=1; continue; }
  if [ -n "$output" ]; then
    echo "$name: verify warns:"; echo "$output"; status=1
  fi
  if ! security="$(systemd-analyze security --offline=yes --threshold=50 "$unit" 2>&1)"; then
    echo "$name: sandbox exposure above 5.0:"; echo "$security" | tail -3; status=1
  else
    echo "$name: ok, $(echo "$security" | grep -o 'Overall exposure level.*')"
  fi
done
exit $status
