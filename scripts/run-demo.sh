#!/bin/sh
# The demo itself, on an already built tree. HAM may name another
# directory of mail files.
set -eu
HAM=${HAM:-/usr/share/gocode/src/github.com/gatherstars-com/jwz/test/testdata/ham}
qstack=$(pwd)/build/qstack
umask 077
work=$(mktemp -d /tmp/qstack-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

cat > "$work/qstack.conf" <<CONF
queue backend fs path "$work/queue"
queue compression lz4
queue encryption key "qstack demo passphrase"
CONF

count=$(find "$HAM" -maxdepth 1 -type f ! -name '.*' | wc -l)
bytes_in=$(find "$HAM" -maxdepth 1 -type f ! -name '.*' -printf '%s\n' |
    awk '{ s += $1 } END { print s + 0 }')
start=$(date +%s.%N)
"$qstack" -c "$work/qstack.conf" import "$HAM" >/dev/null
"$qstack" -c "$work/qstack.conf" export "$work/export" >/dev/null
end=$(date +%s.%N)

stored=$("$qstack" -c "$work/qstack.conf" ls --json |
    python3 -c 'import json, sys
print(sum(json.loads(l)["stored_size"] for l in sys.stdin))')
exported=$(find "$work/export" -type f | wc -l)

# every original must have a byte-identical copy among the exported files
(cd "$HAM" && find . -maxdepth 1 -type f ! -name '.*' -exec sha256sum {} + |
    cut -d' ' -f1 | sort) > "$work/in.sums"
(cd "$work/export" && find . -type f -exec sha256sum {} + |
    cut -d' ' -f1 | sort) > "$work/out.sums"
if ! cmp -s "$work/in.sums" "$work/out.sums"; then
	echo "demo FAILED: exported messages differ from the originals" >&2
	exit 1
fi
if grep -rqF "qstack demo passphrase" "$work/queue"; then
	echo "demo FAILED: the passphrase appears in the queue" >&2
	exit 1
fi

awk -v n="$count" -v e="$exported" -v i="$bytes_in" -v s="$stored" \
    -v t0="$start" -v t1="$end" 'BEGIN {
	printf "messages:          %d imported, %d exported, all byte-identical\n", n, e
	printf "bytes in:          %d\n", i
	printf "bytes stored:      %d (message blobs: lz4 + aes-256-gcm, with headers)\n", s
	printf "compression ratio: %.2f\n", i / s
	printf "elapsed:           %.2f s (import and export)\n", t1 - t0
}'
