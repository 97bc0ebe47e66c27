#!/bin/sh
# Runs every test program and script, then prints one closing line:
# "N passed, N failed". cmocka programs are counted per test case; a
# program that dies before printing its summary counts as one failure.
# Scripts (tests/test_*.sh, tests/test_*.py) print their own
# "N passed, N failed" line, or count as one test by exit status.
set -u
BUILD=${BUILD:-build}
top=$(pwd)
QSTACK_PLUGIN_PATH=$top/$BUILD/plugins
QSTACK_BUILD=$top/$BUILD
export QSTACK_PLUGIN_PATH QSTACK_BUILD
unset QSTACK_CONF
# Debian's python3-cryptography and python3-lz4 belong to the system
# interpreter, which another python3 earlier in PATH may not see.
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
logdir=$top/$BUILD/test-logs
mkdir -p "$logdir"
passed=0
failed=0
failures=""

count() {
	# $1 test name, $2 log file, $3 exit status
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$2" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$2" | tail -n 1)
	if [ -z "$p$f" ]; then
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
		p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
		f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
	fi
	if [ -z "$p$f" ]; then
		if [ "$3" -eq 0 ]; then p=1; f=0; else p=0; f=1; fi
	fi
	p=${p:-0}
	f=${f:-0}
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		failures="$failures $1"
		echo "FAIL $1 (log: $2)"
		tail -n 30 "$2"
	else
		echo "ok   $1 ($p)"
	fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	log=$logdir/$name.log
	"$t" > "$log" 2>&1
	count "$name" "$log" $?
done

for t in tests/test_*.sh tests/test_*.py; do
	[ -f "$t" ] || continue
	name=$(basename "$t")
	log=$logdir/$name.log
	case "$t" in
	*.sh) sh "$t" > "$log" 2>&1 ;;
	*.py) "$PYTHON" "$t" > "$log" 2>&1 ;;
	esac
	count "$name" "$log" $?
done

if [ -n "$failures" ]; then
	echo "failed:$failures"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
