#!/bin/sh
# Smoke run of the libFuzzer targets of tests/fuzz/: builds them when
# needed, then runs each on its seed corpus for 2000 executions, at most
# 20 s, with a fixed libFuzzer seed. Run from the top of the tree, as
# tests/run-tests.sh does. The last line is "N passed, N failed", with
# one count per target.
set -u
build=${QSTACK_BUILD:-$(pwd)/build}
cc=${FUZZ_CC:-clang}

fail_setup() {
	echo "$*"
	echo "0 passed, 1 failed"
	exit 1
}

command -v "$cc" > /dev/null 2>&1 ||
    fail_setup "$cc not found: install clang and libclang-rt-14-dev"
[ -f Makefile ] && [ -d tests/fuzz ] ||
    fail_setup "run this from the top of the qstack tree"

# Under make check the build joins the parent's jobserver. Run alone,
# it uses both cores.
jobs=-j2
case ${MAKEFLAGS:-} in
*jobserver*) jobs= ;;
esac
mkdir -p "$build/fuzz"
# shellcheck disable=SC2086
if ! make -s $jobs -f Makefile -f tests/fuzz/fuzz.mk BUILD="$build" \
    fuzz-build > "$build/fuzz/build.log" 2>&1; then
	tail -n 30 "$build/fuzz/build.log"
	fail_setup "building the fuzz targets failed;" \
	    "log: $build/fuzz/build.log"
fi

# Own work files, so that make fuzz can run at the same time.
FUZZ_DIR=$build/fuzz FUZZ_OUT=$build/fuzz/smoke FUZZ_RUNS=2000 \
    FUZZ_TIME=20 FUZZ_SEED=1 sh tests/fuzz/run-fuzz.sh
