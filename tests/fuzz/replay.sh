#!/bin/sh
# make check: each fuzz target's plain driver on every kept finding (one TAP line each,
# tests/fixtures/fuzz/TARGET/FILE) and on its seeds (one TAP line per target).
# usage: replay.sh BUILD [TARGET...]  (default: every tests/fuzz/fuzz-TARGET.c)
set -u
build=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# = 0 ]; then
	set -- $(cd "$top/tests/fuzz" && ls fuzz-*.c | sed 's/^fuzz-//; s/\.c$//')
fi
# the seeds, made from tests/fixtures as make fuzz makes them (Makefile: fuzz-seeds/stamp)
stamp=$top/$build/fuzz-seeds/stamp
fresh=1
for f in tests/fuzz/mkseeds.py tests/fixtures/archlib.py tests/fixtures/hostile.py \
         tests/fixtures/load-mkarchive.py; do
	[ -f "$stamp" ] && ! [ "$top/$f" -nt "$stamp" ] || fresh=0
done
if [ "$fresh" = 0 ]; then
	rm -rf "$top/$build/fuzz-seeds"
	python3 "$top/tests/fuzz/mkseeds.py" "$top/tests/fixtures/peers" "$top/$build/fuzz-seeds" &&
		touch "$stamp"
fi
# the targets' temp files (a fresh store per input), on tmpfs when there is one; removed
# here, since a target that crashes cannot remove its own
base=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
FUZZ_TMPDIR=$(mktemp -d "$base/img-fuzz.XXXXXX") || exit 1
export FUZZ_TMPDIR
log=$(mktemp)
trap 'rm -rf "$log" "$FUZZ_TMPDIR"' EXIT
n=0
one() {   # one TARGET NAME FILE...
	t=$1 name=$2
	shift 2
	n=$((n + 1))
	if timeout 300 "$top/$build/fuzz-$t" "$@" > "$log" 2>&1; then
		echo "ok $n - fuzz $t $name"
	else
		echo "not ok $n - fuzz $t $name"
		tail -n 20 "$log" | sed 's/^/# /'
	fi
}
for t in "$@"; do
	for f in "$top/tests/fixtures/fuzz/$t"/*; do
		[ -f "$f" ] && one "$t" "$(basename "$f")" "$f"
	done
	seeds=$top/$build/fuzz-seeds/$t
	if ls "$seeds"/* > /dev/null 2>&1; then
		one "$t" "seeds ($(ls "$seeds" | wc -l) files)" "$seeds"/*
	else
		n=$((n + 1))
		echo "not ok $n - fuzz $t seeds: none in $seeds"
	fi
done
