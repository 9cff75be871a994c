#!/usr/bin/env bash
# The test command: installs what is missing (deploy/deps.sh, as root),
# configures, builds with warnings as errors under AddressSanitizer and UBSan,
# and runs every test: unit, integration, then each libFuzzer target for a
# bounded time.  Usage: tests/run.sh [ctest -R regex]
#   KS_BUILD_ROOT   where build trees go (default: build/ in the checkout)
#   KS_FUZZ_SECONDS seconds per fuzz target (default 30; 0 skips fuzzing)
#   KS_TSAN_TESTS   1: also build with ThreadSanitizer and run the tests
#                   that exercise the node's threads (worker, kprop
#                   listener, snapshot encoding, the in-process engines);
#                   any report fails them.
#                   Off by default (a third build: too slow for CI).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${KS_BUILD_ROOT:-$src/build}
fuzz_seconds=${KS_FUZZ_SECONDS:-30}
filter=${1:-}
jobs=$(nproc)

"$src/deploy/deps.sh"
mkdir -p "$root"

echo "== style: clang-format"
mapfile -t files < <(cd "$src" && git ls-files '*.c' '*.h' 2>/dev/null ||
	find common store proto bridge node tests bench -name '*.[ch]')
if [ ${#files[@]} -gt 0 ]; then
	(cd "$src" && clang-format --dry-run --Werror "${files[@]}")
fi

echo "== build: gcc, -Werror, ASan+UBSan"
cmake -S "$src" -B "$root/test" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	-DKS_WERROR=ON -DKS_ASAN=ON -DKS_UBSAN=ON >"$root/configure-test.log" 2>&1 ||
	{ cat "$root/configure-test.log"; exit 1; }
cmake --build "$root/test" -j "$jobs"

passed=0
failed=0
run_ctest() {
	local dir=$1
	shift
	local log
	log=$(mktemp)
	local rc=0
	(cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log" || rc=$?
	local line
	line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
	if [ -n "$line" ]; then
		local f t
		f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
		t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
		passed=$((passed + t - f))
		failed=$((failed + f))
	elif ! grep -q 'No tests were found' "$log"; then
		failed=$((failed + 1))
	fi
	rm -f "$log"
	return 0
}

echo "== unit and integration tests"
if [ -n "$filter" ]; then
	run_ctest "$root/test" -R "$filter"
else
	run_ctest "$root/test"
fi

if [ "$fuzz_seconds" != 0 ] && [ -z "$filter" ] &&
	[ -n "$(find "$src/tests/fuzz" -name '*.c' 2>/dev/null)" ]; then
	echo "== fuzz: clang, libFuzzer, ASan+UBSan, ${fuzz_seconds}s per target"
	CC=clang cmake -S "$src" -B "$root/fuzz" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
		-DKS_WERROR=ON -DKS_ASAN=ON -DKS_UBSAN=ON -DKS_FUZZ=ON \
		-DKS_BUILD_BENCH=OFF -DKS_FUZZ_SECONDS="$fuzz_seconds" \
		>"$root/configure-fuzz.log" 2>&1 ||
		{ cat "$root/configure-fuzz.log"; exit 1; }
	cmake --build "$root/fuzz" -j "$jobs"
	run_ctest "$root/fuzz" -L fuzz
fi

if [ "${KS_TSAN_TESTS:-0}" = 1 ] && [ -z "$filter" ]; then
	echo "== threads: gcc, ThreadSanitizer"
	cmake -S "$src" -B "$root/tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
		-DKS_WERROR=ON -DKS_TSAN=ON -DKS_BUILD_BENCH=OFF \
		>"$root/configure-tsan.log" 2>&1 ||
		{ cat "$root/configure-tsan.log"; exit 1; }
	cmake --build "$root/tsan" -j "$jobs"
	reports=$(mktemp -d)
	TSAN_OPTIONS="log_path=$reports/tsan second_deadlock_stack=1" \
		run_ctest "$root/tsan" -R 'test_repl_worker|test_repl_engine|test_node_ctl|repl_busy|repl_crash|repl_stream|repl_verify|repl_promote|kprop_native|kprop_daemon'
	if compgen -G "$reports/tsan*" >/dev/null; then
		cat "$reports"/tsan*
		echo "ThreadSanitizer reported races (above)"
		failed=$((failed + 1))
	fi
	rm -rf "$reports"
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
