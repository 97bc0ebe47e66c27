#!/bin/sh
# Installs what is missing, builds qstack, and runs the demo: the 2,403
# messages of the SpamAssassin "easy ham" corpus are imported into a new
# queue with LZ4 compression and AES-256-GCM encryption, exported back,
# and compared byte for byte with the originals.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
make -j2 all >/dev/null
exec sh scripts/run-demo.sh
