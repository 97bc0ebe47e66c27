#!/bin/sh
# Rewrites the seed corpora in tests/fuzz/corpus/ from scratch.
#   $1  the built seed generator (make fuzz-seeds passes it)
# The C generator writes every target's seeds with the real modules and
# loader. make_seeds_evp.py then adds crypto-evp blobs with small chunk
# sizes, which the module never writes but every reader must accept. It
# imports plugins/crypto-evp/evp_reference.py, so it needs a Python
# "cryptography" package with cryptography.hazmat.decrepit (the seeds
# were made with version 48).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
corpus=$top/tests/fuzz/corpus
generator=${1:?usage: make_seeds.sh BUILD/fuzz/make_seeds}

for t in config header zlib lz4 evp read; do
	rm -rf "${corpus:?}/$t"
done
"$generator" "$corpus"
python3 "$top/tests/fuzz/make_seeds_evp.py" "$corpus"
for t in config header zlib lz4 evp read; do
	echo "$t: $(ls "$corpus/$t" | wc -l) seeds"
done
