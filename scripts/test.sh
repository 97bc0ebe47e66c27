#!/bin/sh
# Installs what is missing, builds, and runs every test. The last line
# printed is "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
make -j2 all
make -j2 check
