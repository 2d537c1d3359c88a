#!/usr/bin/env bash
# Set up edgeq in .venv/ at the repository root.
#   scripts/setup.sh        edgeq and its runtime dependencies
#   scripts/setup.sh test   also the test dependencies and the Debian packages the tests use
#                           (host and Cortex-M compilers, make, cmake, QEMU, xxd, kotlinc); apt-get needs root or sudo
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "test" ]; then
  packages="gcc g++ make cmake gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm xxd kotlin"
  missing=""
  for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else sudo="none"; fi
    if [ "$sudo" = "none" ]; then
      echo "setup: cannot install$missing (need root or sudo); the tests that use them will fail" >&2
    else
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
  fi
  extras=".[test]"
else
  extras="."
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# pip and setuptools are chatty (setuptools warns about the data folders it packs); keep that in a log and
# show it only when the install fails.
log=.venv/install.log
echo "setup: installing edgeq ($extras) into .venv/ (log: $log)" >&2
if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e "$extras"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "setup: pip install failed; the full log is $log" >&2
  exit 1
fi
