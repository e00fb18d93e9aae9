#!/bin/sh
# make fuzz: run each libFuzzer target for SECONDS into DIR/corpus/TARGET, starting from the
# seeds (DIR/fuzz-seeds/TARGET) and the kept findings (tests/fixtures/fuzz/TARGET).
# Prints, per target, its executions and whether it found anything (a crash, leak, timeout
# or OOM is left in DIR/findings/TARGET/, its report in DIR/TARGET.log). Exit 1 if any did.
# usage: fuzz.sh DIR SECONDS TARGET...
set -u
dir=$1 secs=$2
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
# the targets' temp files (a fresh store per input), on tmpfs when there is one; removed
# here, since a target that crashes cannot remove its own
base=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
FUZZ_TMPDIR=$(mktemp -d "$base/img-fuzz.XXXXXX") || exit 1
export FUZZ_TMPDIR
trap 'rm -rf "$FUZZ_TMPDIR"' EXIT
status=0
for t in "$@"; do
	corpus=$dir/corpus/$t found=$dir/findings/$t log=$dir/$t.log
	mkdir -p "$corpus" "$found"
	kept=$top/tests/fixtures/fuzz/$t
	[ -d "$kept" ] || kept=
	case $t in
	ref) dict= ;;
	json) dict=-dict=$top/tests/fuzz/json.dict ;;
	*) dict=-dict=$top/tests/fuzz/archive.dict ;;
	esac
	before=$(ls "$found" | wc -l)
	# stdout and stderr of the code under test are closed (-close_fd_mask=3); libFuzzer
	# and the sanitizers still report on a copy of stderr, into the log
	"$dir/fuzz-$t" -max_total_time="$secs" -print_final_stats=1 -close_fd_mask=3 \
		-timeout=60 -rss_limit_mb=2048 -artifact_prefix="$found/" $dict \
		"$corpus" "$dir/fuzz-seeds/$t" $kept > "$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	after=$(ls "$found" | wc -l)
	if [ "$rc" = 0 ] && [ "$after" = "$before" ]; then
		echo "fuzz $t: ${execs:-?} executions in ${secs}s, corpus $(ls "$corpus" | wc -l) files, nothing found"
	else
		echo "fuzz $t: ${execs:-?} executions, FOUND (exit $rc): $(ls -t "$found" | head -n 3 | tr '\n' ' ')(see $log)"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5 | sed 's/^/  /'
		status=1
	fi
done
exit $status
