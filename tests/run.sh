#!/bin/sh
# Run the unit tests, the check of common/'s exported names (tests/prefix.sh), every bats
# file and 20 crash trials (tests/crash.sh); print TAP, then "N passed, N failed". BUILD
# names the build directory (default build). Optional:
# TESTS="img-save img-load" limits the bats files (and leaves out the crash trials);
# UNIT_ARGS="name..." the unit tests; CRASH_TRIALS=N (0: none).
set -u
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
export IMG_BIN="$top/$BUILD"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
	echo "# unit"
	if [ "${UNIT:-1}" = 1 ]; then
		# a leak found at exit (sanitizers) fails the runner after its last "ok"
		"$top/$BUILD/unit" ${UNIT_ARGS:-} 2>&1 || echo "not ok - the unit runner exited with status $?"
		echo "# prefix.sh"
		sh "$top/tests/prefix.sh" "$BUILD" 2>&1
	fi
	if [ "${FUZZ:-${UNIT:-1}}" = 1 ]; then
		echo "# fuzz regressions (tests/fixtures/fuzz and the seeds)"
		sh "$top/tests/fuzz/replay.sh" "$BUILD" 2>&1
	fi
	files=
	if [ -n "${TESTS:-}" ]; then
		for t in $TESTS; do files="$files $top/tests/cli/$t.bats"; done
	else
		files=$(ls "$top"/tests/cli/*.bats 2>/dev/null)
	fi
	for f in $files; do
		echo "# $(basename "$f")"
		bats --tap "$f" 2>&1
	done
	if [ -z "${TESTS:-}" ] && [ "${CRASH_TRIALS:-20}" != 0 ]; then
		echo "# crash.sh"
		BUILD=$BUILD CRASH_TRIALS=${CRASH_TRIALS:-20} CRASH_SUMMARY=0 bash "$top/tests/crash.sh" 2>&1
	fi
} | tee "$out"
pass=$(grep -c '^ok ' "$out")
fail=$(grep -c '^not ok ' "$out")
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
