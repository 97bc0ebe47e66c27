#!/bin/sh
# Runs fuzz targets on copies of their seed corpora. Prints one line per
# target with its executions and time, a total line, and last
# "N passed, N failed" with one count per target. A target fails when
# libFuzzer reports a crash, a leak, a timeout or a contract violation.
# The input that failed is then in FUZZ_OUT/artifacts/, and every
# target's log is in FUZZ_OUT/logs/.
#
#   sh tests/fuzz/run-fuzz.sh [TARGET]...   (default: every target)
#
# Environment:
#   FUZZ_DIR          built targets (build/fuzz)
#   FUZZ_OUT          corpus copies, logs and failing inputs (FUZZ_DIR)
#   FUZZ_RUNS         executions per target (200000)
#   FUZZ_TIME         libFuzzer -max_total_time per target, in seconds;
#                     0 sets no limit (0)
#   FUZZ_SEED         libFuzzer -seed; empty picks one at random
#   FUZZ_PLUGIN_PATH  modules the targets load (FUZZ_DIR/plugins)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${FUZZ_DIR:-build/fuzz}
case $dir in
/*) ;;
*) dir=$top/$dir ;;
esac
out=${FUZZ_OUT:-$dir}
case $out in
/*) ;;
*) out=$top/$out ;;
esac
runs=${FUZZ_RUNS:-200000}
time_cap=${FUZZ_TIME:-0}
seed=${FUZZ_SEED:-}
QSTACK_PLUGIN_PATH=${FUZZ_PLUGIN_PATH:-$dir/plugins}
export QSTACK_PLUGIN_PATH
targets=${*:-config header zlib lz4 evp read}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# Prints milliseconds as seconds with one decimal.
seconds() {
	echo "$(($1 / 1000)).$(($1 % 1000 / 100))"
}

mkdir -p "$out/logs" "$out/artifacts"
passed=0
failed=0
total=0
start=$(now_ms)
for t in $targets; do
	bin=$dir/fuzz_$t
	work=$out/work/$t
	log=$out/logs/$t.log
	if [ ! -x "$bin" ]; then
		echo "FAIL fuzz_$t: $bin not found; run make fuzz-build"
		failed=$((failed + 1))
		continue
	fi
	# TMPDIR keeps the read target's queue, and removing it after the
	# run also removes what a crashed run left.
	tmp=$out/tmp/$t
	rm -rf "$work" "$tmp"
	mkdir -p "$work" "$tmp"
	cp "$top/tests/fuzz/corpus/$t/"* "$work/"
	set -- -runs="$runs" -max_total_time="$time_cap" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/artifacts/$t-"
	[ -n "$seed" ] && set -- "$@" -seed="$seed"
	[ -f "$top/tests/fuzz/dict/$t.dict" ] &&
	    set -- "$@" -dict="$top/tests/fuzz/dict/$t.dict"
	t0=$(now_ms)
	TMPDIR=$tmp "$bin" "$@" "$work" > "$log" 2>&1
	rc=$?
	rm -rf "$tmp"
	ms=$(($(now_ms) - t0))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	execs=${execs:-0}
	total=$((total + execs))
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok   fuzz_$t: $execs execs in $(seconds "$ms") s," \
		    "$(ls "$work" | wc -l) corpus files"
	else
		failed=$((failed + 1))
		echo "FAIL fuzz_$t: exit status $rc after $execs execs in" \
		    "$(seconds "$ms") s (log: $log)"
		grep -a -E -A 30 \
		    '^==[0-9]+==|contract violation|runtime error' \
		    "$log" | head -n 40
	fi
done
echo "total: $total execs in $(seconds $(($(now_ms) - start))) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
