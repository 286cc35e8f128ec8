#!/bin/bash
# Builds the libFuzzer targets (clang, ASan + UBSan, coverage on the libraries)
# and runs each for a time budget, starting from its committed seed corpus.
#
#   tests/fuzz/run.sh [-t SECONDS] [-b BUILD_DIR] [TARGET...]
#     -t SECONDS   budget per target (default 30)
#     -b BUILD_DIR build directory (default: build-fuzz at the top)
#     TARGET       pkt cookie conf proxyproto control (default: all built)
#
# New inputs go to BUILD_DIR/tests/fuzz/work/TARGET (kept between runs, never
# into the repository); a crash, leak, timeout or failed invariant leaves its
# input in BUILD_DIR/tests/fuzz/artifacts/TARGET/ and makes the script exit 1
# with the command that reproduces it. Turn such an input into a regression:
# copy it into corpus/TARGET/ and add a unit test (tests/unit/test_regress_*.c).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=30
build=$top/build-fuzz
while getopts t:b: opt; do
	case $opt in
	t) secs=$OPTARG ;;
	b) build=$OPTARG ;;
	*) sed -n '2,14p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
targets=${*:-pkt cookie conf proxyproto control}

command -v clang >/dev/null || { echo "run.sh: clang is needed (tests/deps.sh)" >&2; exit 2; }
# clang's warnings are not gcc's: -Werror stays with the gcc build
cmake -S "$top" -B "$build" -DCMAKE_C_COMPILER=clang -DSYNGUARD_FUZZ=ON \
	-DSYNGUARD_WERROR=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
build=$(cd "$build" && pwd)
fz=$build/tests/fuzz
list=()
for t in $targets; do list+=("fuzz_$t"); done
cmake --build "$build" -j "$(nproc)" --target "${list[@]}" >"$fz/build.log" 2>&1 || {
	tail -n 40 "$fz/build.log"
	exit 2
}

export LSAN_OPTIONS=suppressions=$here/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for t in $targets; do
	work=$fz/work/$t
	art=$fz/artifacts/$t
	rm -rf "$art" # what an earlier run found was reported then
	mkdir -p "$work" "$art"
	args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$art/")
	[ -f "$here/$t.dict" ] && args+=(-dict="$here/$t.dict")
	echo "=== fuzz_$t: ${secs}s"
	"$fz/fuzz_$t" "${args[@]}" "$work" "$here/corpus/$t" >"$fz/$t.log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+\s+DONE)' "$fz/$t.log"
	if [ $rc != 0 ]; then
		failed+=("$t")
		grep -E -A30 'ERROR: |runtime error|==ERROR|deadly signal|Test unit written' \
			"$fz/$t.log" | head -60
		for a in "$art"/*; do
			[ -e "$a" ] && echo "reproduce: LSAN_OPTIONS=$LSAN_OPTIONS $fz/fuzz_$t $a"
		done
	fi
done
if [ ${#failed[@]} != 0 ]; then
	echo "FAIL: ${failed[*]} (logs in $fz/*.log)"
	exit 1
fi
echo "PASS: $targets"
