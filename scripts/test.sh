#!/bin/sh
# Installs what is missing, builds, and runs every test twice: once as
# built for use, once under AddressSanitizer and UndefinedBehaviorSanitizer.
# The last line printed is the total, "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || exit 1
make -j2 all || exit 1

logs=$(mktemp -d /tmp/qstack-check.XXXXXX)
trap 'rm -rf "$logs"' EXIT INT TERM
status=0
make -j2 check 2>&1 | tee "$logs/plain" || status=1
make -j2 check SANITIZE=1 2>&1 | tee "$logs/sanitize" || status=1

passed=0
failed=0
for run in plain sanitize; do
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$logs/$run" | tail -n 1)
	if [ -z "$line" ]; then
		echo "the $run run printed no total; it failed to build or run"
		failed=$((failed + 1))
		status=1
		continue
	fi
	echo "$run: $line"
	passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
	failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
done
[ "$failed" -eq 0 ] || status=1
echo "$passed passed, $failed failed"
exit $status
