#!/usr/bin/env bash
# Crash trials (make check-crash): SIGKILL img-load, img-import, img-save -o, img-tag,
# img-rm, img-gc and img-gc --dangling at a random moment of their run, then check what
# a crash may leave:
#   - img-gc --check passes (every blob an image needs is there and hashes to its name);
#   - every name in index.json is either as it was before the command or as an
#     uninterrupted run leaves it, and nothing else is there;
#   - the -o FILE of img-save is absent (or the old file) or byte-identical to an
#     uninterrupted run's output, with no temp file beside it;
#   - img-gc then succeeds and leaves .img/tmp empty and the names unchanged;
#   - re-running the killed command succeeds and leaves the store (names, and the blobs
#     after img-gc) and the output exactly as an uninterrupted run does.
# Each command's duration is measured once, by an uninterrupted run on the same input;
# the kill delay of a trial is drawn uniformly from [0, duration], so most kills land
# while the command runs. The inputs (tests/fixtures/crash-data.py: random bytes from a
# fixed seed) are made once in a temp directory shared by the trials.
#
# Environment: BUILD (build directory, default build), CRASH_TRIALS (default 100),
# CRASH_SEED (the seed of the trial draws; default random, printed: set it to replay the
# same commands and delays), CRASH_MB (size of the large inputs, default 32),
# CRASH_KINDS (the commands tried, in turn; default all: load import save save-over tag
# rm gc gc-dangling),
# CRASH_POINTS=1 (also kill each command just before each of its fsync, rename, link
# and unlink calls in turn: needs $BUILD/inject.so), CRASH_KEEP=1 (keep the work
# directory), CRASH_SUMMARY=0 (leave out the last line).
# Output: TAP, a summary of where the kills landed, then "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD:-build}
[ "${bin#/}" != "$bin" ] || bin=$top/$bin
PATH=$bin:$PATH
export LC_ALL=C SOURCE_DATE_EPOCH=1700000000
unset IMG_STORE CI

trials=${CRASH_TRIALS:-100}
mb=${CRASH_MB:-32}
names=1000
seed=${CRASH_SEED:-$(( (${EPOCHREALTIME/./} ^ $$) % 1000000 ))}

work=$(mktemp -d "${TMPDIR:-/tmp}/img-crash.XXXXXX") || exit 1
cleanup() {
	[ -n "${sleep_fd:-}" ] && exec {sleep_fd}>&-
	if [ "${CRASH_KEEP:-0}" = 1 ]; then
		echo "# kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
D=$work/data
S0=$work/base

die() {
	echo "not ok 1 - crash trials: set-up: $*"
	[ "${CRASH_SUMMARY:-1}" = 0 ] || echo "0 passed, 1 failed"
	exit 1
}

# sleep_us N: sleep N microseconds without starting a process (read -t on a fifo that
# never has data).
mkfifo "$work/never" || exit 1
exec {sleep_fd}<>"$work/never"
sleep_us() {
	local us=$1 t
	[ "$us" -gt 0 ] || return 0
	printf -v t '%d.%06d' $((us / 1000000)) $((us % 1000000))
	read -r -t "$t" -u "$sleep_fd" _ || true
}
fmt_s() { printf '%d.%03d' $(($1 / 1000000)) $(($1 % 1000000 / 1000)); }

# ---- state of a store, as files that compare with cmp/comm ----

# names_of STORE: "NAME<TAB>DIGEST" per index.json entry ("-" for an unnamed one), sorted.
names_of() {
	jq -r '.manifests[] | "\(.annotations["io.containerd.image.name"] // "-")\t\(.digest)"' \
		"$1/index.json" | sort
}
# blobs_of STORE: the files under blobs/, sorted.
blobs_of() { (cd "$1" && find blobs -type f | sort); }

# clone STORE DEST: a private copy of STORE to crash in. Blobs are immutable and only
# ever replaced by rename or deleted, so they are hard links; the rest is copied.
clone() {
	mkdir -p "$2/.img/tmp" && cp -al "$1/blobs" "$2/blobs" &&
		cp "$1/index.json" "$1/oci-layout" "$2/"
}

# ---- the commands ----

kinds=(${CRASH_KINDS:-load import save save-over tag rm gc gc-dangling})
# cmd_of KIND STORE OUTDIR: sets cmd (an array).
cmd_of() {
	case $1 in
	load)      cmd=(img-load -q -S "$2" "$D/load.tar") ;;
	import)    cmd=(img-import -q -S "$2" "$D/i.tar" crash/imp:1) ;;
	save)      cmd=(img-save -q -S "$2" -o "$3/out.tar" crash/a:1) ;;
	save-over) cmd=(img-save -q -S "$2" -o "$3/out.tar" crash/a:1) ;;
	tag)       cmd=(img-tag -S "$2" crash/a:1 crash/tag:1) ;;
	rm)        cmd=(img-rm -S "$2" crash/b:1) ;;
	gc)        cmd=(img-gc -S "$2") ;;
	gc-dangling) cmd=(img-gc -S "$2" --dangling) ;;
	esac
}
# show KIND: the command as the trial lines print it.
show() {
	case $1 in
	load)      echo "img-load load.tar" ;;
	import)    echo "img-import i.tar crash/imp:1" ;;
	save)      echo "img-save -o out.tar crash/a:1" ;;
	save-over) echo "img-save -o out.tar crash/a:1 (over an old out.tar)" ;;
	tag)       echo "img-tag crash/a:1 crash/tag:1" ;;
	rm)        echo "img-rm crash/b:1" ;;
	gc)        echo "img-gc" ;;
	gc-dangling) echo "img-gc --dangling" ;;
	esac
}
# prepare KIND DIR: a trial or reference directory DIR/store, DIR/out.
prepare() {
	mkdir -p "$2/out" && clone "$S0" "$2/store" || return 1
	[ "$1" != save-over ] || cp "$D/old.tar" "$2/out/out.tar"
}

# spawn_timed: run "${cmd[@]}" in the background (stdout, stderr to $T/stdout, $T/stderr),
# kill it with SIGKILL after $1 microseconds unless $1 is empty; sets rc and dur (us).
spawn_timed() {
	local t0=${EPOCHREALTIME/./} pid
	"${cmd[@]}" > "$T/stdout" 2> "$T/stderr" &
	pid=$!
	if [ -n "$1" ]; then
		sleep_us "$1"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	dur=$((${EPOCHREALTIME/./} - t0))
}

# ---- checks: each returns 1 with a reason in $why ----

why=
bad() { why=$*; return 1; }

# img-gc --check passes: every blob reachable from index.json present and verifying.
check_verify() {
	img-gc -S "$1" --check > /dev/null 2> "$T/check.err" ||
		bad "img-gc --check fails: $(head -n 3 "$T/check.err" | tr '\n' ' ')"
}

# Every entry of index.json is one the store had before the command or one an
# uninterrupted run leaves (so each image is there whole, as gc --check showed, under
# a name it may have, or absent); what both have is there; a name both have is there
# (on the image it had, or the one it gets); no name twice.
check_names() {
	local st=$1 k=$2 before=$work/names.before after=$work/names.after.$k now=$T/names.now x
	names_of "$st" > "$now"
	x=$(sort -u "$before" "$after" | comm -23 "$now" -)
	[ -z "$x" ] || bad "index.json entries neither from before nor from a whole run: $(echo "$x" | head -n 3 | tr '\n' ' ')" || return 1
	x=$(comm -12 "$before" "$after" | comm -23 - "$now")
	[ -z "$x" ] || bad "index.json entries lost: $(echo "$x" | head -n 3 | tr '\n' ' ')" || return 1
	x=$(comm -12 <(cut -f1 "$before" | grep -vx -- - | sort -u) <(cut -f1 "$after" | grep -vx -- - | sort -u) |
		comm -23 - <(cut -f1 "$now" | sort -u))
	[ -z "$x" ] || bad "names lost: $(echo "$x" | head -n 3 | tr '\n' ' ')" || return 1
	x=$(cut -f1 "$now" | grep -vx -- - | uniq -d)
	[ -z "$x" ] || bad "names given twice: $(echo "$x" | head -n 3 | tr '\n' ' ')"
}

# The -o FILE: absent (or the old file) or complete; nothing else in its directory.
check_output() {
	local out=$1 k=$2 files
	files=$(cd "$out" && ls -A | tr '\n' ' ')
	case $k in
	save | save-over)
		[ -z "$files" ] || [ "$files" = "out.tar " ] || bad "files beside out.tar: $files" || return 1
		[ -e "$out/out.tar" ] || [ "$k" = save ] || bad "the old out.tar is gone" || return 1
		[ ! -e "$out/out.tar" ] || cmp -s "$out/out.tar" "$work/ref.save.tar" ||
			{ [ "$k" = save-over ] && cmp -s "$out/out.tar" "$D/old.tar"; } ||
			bad "out.tar is neither complete nor the old file ($(stat -c %s "$out/out.tar") bytes)"
		;;
	*)
		[ -z "$files" ] || bad "files in the output directory: $files" ;;
	esac
}

# img-gc succeeds, leaves no temp file and nothing stray, and changes no name.
check_gc() {
	local st=$1 left
	img-gc -S "$st" > /dev/null 2> "$T/gc.err" || bad "img-gc fails: $(head -n 3 "$T/gc.err" | tr '\n' ' ')" || return 1
	left=$(find "$st/.img/tmp" -mindepth 1 | head -n 3)
	[ -z "$left" ] || bad "temp files left after img-gc: $left" || return 1
	left=$(cd "$st" && ls -A | grep -vxE '\.img|blobs|index\.json|oci-layout' | tr '\n' ' ')
	[ -z "$left" ] || bad "stray files in the store: $left" || return 1
	left=$(cd "$st/.img" && ls -A | grep -vxE 'lock|index\.lock|tmp' | tr '\n' ' ')
	[ -z "$left" ] || bad "stray files in .img: $left" || return 1
	names_of "$st" | cmp -s - "$T/names.now" || bad "img-gc changed the names"
}

# Re-running the command succeeds and gives what an uninterrupted run gives. img-rm of
# a name the killed run already removed fails as it must ("no such image").
check_rerun() {
	local st=$1 out=$2 k=$3 want=0 cmd rc dur
	if [ "$k" = rm ] && ! grep -q '^docker.io/crash/b:1	' "$T/names.now"; then
		want=1
	fi
	cmd_of "$k" "$st" "$out"
	spawn_timed ""
	[ "$rc" = "$want" ] || bad "the re-run exits $rc, not $want: $(head -n 3 "$T/stderr" | tr '\n' ' ')" || return 1
	[ "$want" = 0 ] || grep -q 'no such image' "$T/stderr" || bad "the re-run fails wrongly: $(cat "$T/stderr")" || return 1
	case $k in
	load | import | tag)
		cmp -s "$T/stdout" "$work/stdout.$k" || bad "the re-run prints other output: $(head -n 3 "$T/stdout" | tr '\n' ' ')" || return 1 ;;
	esac
	names_of "$st" | cmp -s - "$work/names.after.$k" || bad "after the re-run the names differ from an uninterrupted run's" || return 1
	case $k in
	save | save-over)
		cmp -s "$out/out.tar" "$work/ref.save.tar" || bad "after the re-run out.tar differs" || return 1 ;;
	esac
	check_output "$out" "$k" || return 1
	img-gc -S "$st" > /dev/null 2> "$T/gc.err" || bad "img-gc after the re-run fails: $(head -n 3 "$T/gc.err")" || return 1
	blobs_of "$st" | cmp -s - "$work/blobs.after.$k" ||
		bad "after the re-run and img-gc the blobs differ from an uninterrupted run's: $(blobs_of "$st" | diff - "$work/blobs.after.$k" | grep '^[<>]' | head -n 3 | tr '\n' ' ')" || return 1
	[ -z "$(find "$st/.img/tmp" -mindepth 1)" ] || bad "temp files left after the re-run" || return 1
	check_verify "$st"
}

# ---- set-up: inputs, the base store, one uninterrupted run of each command ----

echo "# crash trials: $trials, CRASH_SEED=$seed (set CRASH_SEED=$seed to replay these draws)"
mkdir -p "$D" || die "mkdir"
python3 "$top/tests/fixtures/crash-data.py" "$D" "$mb" "$names" || die "crash-data.py failed"
{
	img-import -q -S "$S0" "$D/a.tar" crash/a:1 &&
	img-import -q -S "$S0" "$D/b.tar" crash/b:1 &&
	img-import -q -S "$S0" "$D/g.tar" crash/g:1 &&
	img-rm -S "$S0" --no-prune crash/g:1 &&        # garbage for img-gc
	img-import -q -S "$S0" "$D/d.tar" crash/d:1 &&
	img-tag -S "$S0" crash/a:1 crash/d:1 &&         # a dangling image for img-gc --dangling
	img-load -q -S "$S0" "$D/many.tar" &&           # a large index.json
	img-import -q -S "$work/src" "$D/l1.tar" crash/load:1 &&
	img-import -q -S "$work/src" "$D/l2.tar" crash/load:2 &&
	img-save -q -S "$work/src" -o "$D/load.tar" crash/load:1 crash/load:2 &&
	img-save -q -S "$S0" -o "$D/old.tar" crash/b:1
} > /dev/null || die "cannot build the base store"
rm -rf "$work/src"
names_of "$S0" > "$work/names.before"

# Each command runs twice uninterrupted: the first run (caches warm up) gives the
# expected result, the second, which must give the same, is the measured duration.
declare -A dur_of
for k in "${kinds[@]}"; do
	for run in 1 2; do
		T=$work/ref.$k
		prepare "$k" "$T" || die "cannot prepare $k"
		cmd_of "$k" "$T/store" "$T/out"
		spawn_timed ""
		[ "$rc" = 0 ] || die "$(show "$k") exits $rc: $(cat "$T/stderr")"
		dur_of[$k]=$dur
		cp "$T/stdout" "$work/stdout.$k.$run"
		names_of "$T/store" > "$work/names.after.$k.$run"
		[ ! -e "$T/out/out.tar" ] || mv "$T/out/out.tar" "$work/ref.save.tar.$run"
		img-gc -S "$T/store" > /dev/null || die "img-gc after $k fails"
		blobs_of "$T/store" > "$work/blobs.after.$k.$run"
		rm -rf "$T"
	done
	for f in stdout names.after blobs.after; do
		cmp -s "$work/$f.$k.1" "$work/$f.$k.2" || die "two runs of $(show "$k") differ ($f)"
		mv "$work/$f.$k.1" "$work/$f.$k" && rm "$work/$f.$k.2"
	done
done
if [ -e "$work/ref.save.tar.1" ]; then
	cmp -s "$work/ref.save.tar.1" "$work/ref.save.tar.2" || die "two runs of img-save differ"
	mv "$work/ref.save.tar.1" "$work/ref.save.tar" && rm "$work/ref.save.tar.2"
fi
line="# durations:"
for k in "${kinds[@]}"; do line="$line $k $(fmt_s "${dur_of[$k]}")s,"; done
echo "${line%,}"

# ---- the trials ----

pass=0 fail=0 during=0 after=0 n=0

# trial KIND DESC: prepare a trial directory $T, run the command with kill() (which sets
# rc), check, print one TAP line.
trial() {
	local k=$1 desc=$2
	n=$((n + 1))
	T=$work/t$n
	if ! prepare "$k" "$T"; then
		echo "not ok $n - $desc: cannot prepare the trial"
		fail=$((fail + 1))
		return
	fi
	cmd_of "$k" "$T/store" "$T/out"
	why=
	kill_it
	if [ "$rc" = 137 ]; then
		during=$((during + 1))
		desc="$desc, while it ran"
	elif [ "$rc" = 0 ]; then
		after=$((after + 1))
		desc="$desc, after it had exited"
	else
		why="exit $rc without the kill: $(head -n 3 "$T/stderr" | tr '\n' ' ')"
	fi
	if [ -z "$why" ] &&
		check_verify "$T/store" &&
		check_names "$T/store" "$k" &&
		check_output "$T/out" "$k" &&
		check_gc "$T/store" &&
		check_verify "$T/store" &&
		check_rerun "$T/store" "$T/out" "$k"; then
		echo "ok $n - $desc"
		pass=$((pass + 1))
		rm -rf "$T"
	else
		echo "not ok $n - $desc"
		echo "# $why"
		echo "# trial directory: $T$([ "${CRASH_KEEP:-0}" = 1 ] || echo ' (CRASH_KEEP=1 keeps it)')"
		fail=$((fail + 1))
		[ "${CRASH_KEEP:-0}" = 1 ] || rm -rf "$T"
	fi
}

# At a random moment: a delay drawn uniformly from [0, duration].
RANDOM=$seed
kill_it() { spawn_timed "$delay"; }
for ((i = 1; i <= trials; i++)); do
	k=${kinds[$(((i - 1) % ${#kinds[@]}))]}
	r=$(((RANDOM << 15) | RANDOM))
	delay=$((dur_of[$k] * r / (1 << 30)))
	trial "$k" "$(show "$k"): SIGKILL after $(fmt_s "$delay")s of $(fmt_s "${dur_of[$k]}")s"
done
[ "$trials" = 0 ] || echo "# kills: $((during + after)), $during landed while the command ran, $after after it had exited; seed $seed"

# CRASH_POINTS=1: at every point where the store or the output changes: SIGKILL just
# before the Nth fsync, rename, link or unlink of each command, for every N it reaches
# (tests/lib/inject.c pauses the call; the trial waits for the pause, then kills).
kill_at_point() {
	local pid state
	rm -f "$T/inject.log"
	IMG_INJECT="$spec" IMG_INJECT_LOG="$T/inject.log" LD_PRELOAD="$bin/inject.so" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		"${cmd[@]}" > "$T/stdout" 2> "$T/stderr" &
	pid=$!
	while :; do
		if grep -qs PAUSE "$T/inject.log"; then
			kill -KILL "$pid"
			break
		fi
		state=Z
		{ read -r _ _ state _ < "/proc/$pid/stat"; } 2> /dev/null
		[ "$state" != Z ] || break
		sleep_us 2000
	done
	wait "$pid" 2> /dev/null
	rc=$?
}
if [ "${CRASH_POINTS:-0}" = 1 ]; then
	[ -f "$bin/inject.so" ] || die "CRASH_POINTS=1 needs $bin/inject.so"
	kill_it() { kill_at_point; }
	during=0 after=0
	for k in "${kinds[@]}"; do
		for call in fsync rename linkat unlink; do
			if [ "$k" = save-over ] && [ "$call" = rename ]; then
				# img-save -o over an existing FILE links its unnamed file to a temp
				# name beside FILE and renames that over FILE (no call replaces a
				# name by an unnamed file): a kill between the two leaves the name.
				echo "# not tried: $(show "$k"): SIGKILL before rename #1 (leaves out.tar.XXXXXX: the one window no call closes)"
				continue
			fi
			for ((nth = 1; ; nth++)); do
				spec=$call:PAUSE:$nth:once:sleep=60
				trial "$k" "$(show "$k"): SIGKILL before $call #$nth"
				[ "$rc" = 137 ] || break
			done
		done
	done
	echo "# kills at points: $((during + after)), $during before the call, $after not reached (the command ends)"
fi

# the base store the trials shared (by hard links) is intact
T=$work
if ! check_verify "$S0" || ! names_of "$S0" | cmp -s - "$work/names.before"; then
	echo "not ok $((n + 1)) - the base store changed under the trials: $why"
	fail=$((fail + 1))
fi

[ "${CRASH_SUMMARY:-1}" = 0 ] || echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
