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

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv/" >&2
  python3 -m venv .venv
fi
# pip and setuptools are chatty (setuptools warns about the data folders it packs); keep that in a log, say
# which phase pip is in (one line each), and show the log's end only when the install fails.
log=.venv/install.log
: >"$log"
phases() {  # pip's output -> the log, plus one line when it starts resolving, downloading, building, installing
  local seen=""
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    case "$line" in
      Collecting*) phase="resolving and downloading packages (TensorFlow is ~600 MB: minutes on a cold cache)" ;;
      *"Building wheel"*|*"Building editable"*) phase="building edgeq" ;;
      "Installing collected packages"*) phase="installing $(printf '%s\n' "${line#*: }" | tr ',' '\n' | wc -l) packages" ;;
      Successfully\ installed*) phase="installed" ;;
      *) continue ;;
    esac
    case "$seen" in *"|$phase|"*) ;; *) echo "setup:   $phase" >&2; seen="$seen|$phase|" ;; esac
  done
}
fail() {
  tail -n 40 "$log" >&2
  echo "setup: pip install failed; the full log is $log" >&2
  exit 1
}
echo "setup: [1/3] upgrading pip in .venv/ (log: $log)" >&2
.venv/bin/python -m pip install --upgrade pip 2>&1 | phases || fail
echo "setup: [2/3] installing edgeq ($extras) and its dependencies" >&2
.venv/bin/python -m pip install -e "$extras" 2>&1 | phases || fail
echo "setup: [3/3] checking the install: $(.venv/bin/edgeq --version)" >&2
