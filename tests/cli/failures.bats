#!/usr/bin/env bats
# Failure paths of every program that writes: injected I/O errors (tests/lib/inject.c),
# signals in the middle of the work, and a full stdout. After any failure: exit 1, one
# line naming the problem, no temp file, no partial output, the store as it was.
load ../lib/helper
bats_require_minimum_version 1.5.0

INJECT_SO="$IMG_BIN/inject.so"

setup_file() {
	[ -f "$IMG_BIN/inject.so" ] || {
		echo "missing $IMG_BIN/inject.so (make BUILD=... \$BUILD/inject.so)" >&2
		return 1
	}
}

# inj SPEC CMD...: run CMD with the failure SPEC (see inject.c) injected.
inj() {
	local spec=$1
	shift
	rm -f "$BATS_TEST_TMPDIR/inject.log"
	run --separate-stderr env IMG_INJECT="$spec" IMG_INJECT_LOG="$BATS_TEST_TMPDIR/inject.log" \
		LD_PRELOAD="$INJECT_SO" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
}

# Run CMD in the background with SIGINT and SIGTERM at their defaults (a non-interactive
# shell starts background jobs with SIGINT ignored and stdin on /dev/null) and with SPEC
# injected (may be empty). Standard input from $SPAWN_IN.
spawn() {
	local spec=$1
	shift
	rm -f "$BATS_TEST_TMPDIR/inject.log"
	env IMG_INJECT="$spec" IMG_INJECT_LOG="$BATS_TEST_TMPDIR/inject.log" \
		${spec:+LD_PRELOAD="$INJECT_SO"} \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@" < "${SPAWN_IN:-/dev/null}" 3>&- &
	SPAWNED=$!
}

# wait_until SECONDS SHELL-CONDITION
wait_until() {
	local i n=$(($1 * 10))
	for ((i = 0; i < n; i++)); do
		eval "$2" && return 0
		sleep 0.1
	done
	fail "timed out waiting for: $2"
}

# Remember the state of a store (default $IMG_STORE) to compare after a failure.
snap() {
	local st=${1:-$IMG_STORE}
	cp "$st/index.json" "$BATS_TEST_TMPDIR/index.before"
	(cd "$st" && find blobs -type f | LC_ALL=C sort) > "$BATS_TEST_TMPDIR/blobs.before"
	img-ls -a -S "$st" > "$BATS_TEST_TMPDIR/ls.before"
}

# The store is as snap saw it: index.json byte-identical, the same images, every blob
# that was there still there, every blob in blobs/ hashing to its name (new ones allowed
# only when whole and verified), nothing in .img/tmp, every image still saveable.
assert_store_intact() {
	local st=${1:-$IMG_STORE} t=$BATS_TEST_TMPDIR bad missing left
	cmp -s "$st/index.json" "$t/index.before" || fail "index.json changed: $(diff "$t/index.before" "$st/index.json")"
	img-ls -a -S "$st" > "$t/ls.after"
	cmp -s "$t/ls.before" "$t/ls.after" || fail "images changed: $(diff "$t/ls.before" "$t/ls.after")"
	(cd "$st" && find blobs -type f | LC_ALL=C sort) > "$t/blobs.after"
	missing=$(comm -23 "$t/blobs.before" "$t/blobs.after")
	[ -z "$missing" ] || fail "blobs gone: $missing"
	bad=$(cd "$st/blobs/sha256" && sha256sum -- * | awk '$1 != $2 { print $2 }')
	[ -z "$bad" ] || fail "blobs that do not hash to their name: $bad"
	[ -z "$(find "$st/blobs" ! -type f ! -type d)" ] || fail "odd files in blobs/"
	left=$(find "$st/.img/tmp" -mindepth 1 2>/dev/null)
	[ -z "$left" ] || fail "temp files left in the store: $left"
	left=$(cd "$st" && ls -A | grep -vxE '\.img|blobs|index\.json|oci-layout' || true)
	[ -z "$left" ] || fail "stray files in the store: $left"
	if [ -n "$(jq -r '.manifests[].digest' "$st/index.json")" ]; then
		img-save -q -S "$st" $(jq -r '.manifests[].digest' "$st/index.json" | sort -u) > /dev/null ||
			fail "the store's images no longer save"
	fi
}

# assert_failed TOOL WHY: exit 1, nothing on stdout, one line "TOOL: ...WHY..." on
# stderr, and the injection did happen.
assert_failed() {
	[ -s "$BATS_TEST_TMPDIR/inject.log" ] || fail "nothing was injected (exit $status): $stderr"
	[ "$status" -eq 1 ] || fail "exit $status, expected 1; stderr: $stderr"
	[ -z "$output" ] || fail "stdout not empty: $output"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "expected one line on stderr, got: $stderr"
	[[ $stderr == "$1: "* ]] || fail "message does not start with '$1: ': $stderr"
	[[ $stderr == *"$2"* ]] || fail "message does not say '$2': $stderr"
}

ENOSPC="No space left on device"
EIO="Input/output error"
EXDEV="Invalid cross-device link"

# A store with base:1 (the peers' second layer as a one-layer image) and tiny:1.
two_images() {
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	import_tiny tiny:1
}

# An img-save archive of tiny:1 (uncompressed 2 MB layer) made in another store: a.tar.
archive() {
	img-import -q -S src --compress none "$PEERS/src/tiny-rootfs.tar" tiny:1 > /dev/null
	img-save -q -S src tiny:1 > a.tar
}

# ---- img-import ----

import_fails() {
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	inj "$1" img-import -q "$PEERS/src/tiny-rootfs.tar" tiny:1
	assert_failed img-import "$2"
	assert_store_intact
	run img-ls tiny
	[[ $output != *tiny* ]]
}

@test "img-import: ENOSPC in the middle of the layer" {
	import_fails write:ENOSPC:bytes=300000 "$ENOSPC"
}

@test "img-import: ENOSPC on the first write" {
	import_fails write:ENOSPC "$ENOSPC"
}

@test "img-import: fsync EIO on the layer, on a later blob, on the index" {
	import_fails fsync:EIO "$EIO"
	import_fails fsync:EIO:2 "$EIO"
	import_fails fsync:EIO:3 "$EIO"
}

@test "img-import: rename fails (blob into blobs/, index.json)" {
	import_fails rename:EXDEV "$EXDEV"
	import_fails rename:EXDEV:path=index.json "$EXDEV"
}

@test "img-import: a read error in the input" {
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	inj read:EIO:fd=fifo:bytes=500000 img-import -q - tiny:1 < <(cat "$PEERS/src/tiny-rootfs.tar")
	assert_failed img-import "$EIO"
	assert_store_intact
}

@test "img-import: SIGTERM in the middle of a slow input" {
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	mkfifo in
	{ head -c 1600000 "$PEERS/src/tiny-rootfs.tar"; exec sleep 30; } > in 3>&- &
	local writer=$!
	SPAWN_IN=in spawn "" img-import -q --compress none - tiny:1
	wait_until 10 '[ -n "$(find "$IMG_STORE/.img/tmp" -type f -size +1 2>/dev/null)" ]'
	kill -TERM "$SPAWNED"
	local st=0
	wait "$SPAWNED" || st=$?
	kill "$writer" 2>/dev/null || true
	[ "$st" -ne 0 ] || fail "img-import exited 0 after SIGTERM"
	assert_store_intact
}

# ---- img-save -o ----

save_fails() {
	import_tiny tiny:1
	snap
	inj "$1" img-save -q -o out.tar tiny:1
	assert_failed img-save "$2"
	[ ! -e out.tar ] || fail "out.tar was left"
	assert_no_temp "$BATS_TEST_TMPDIR"
	[ -z "$(ls -A | grep '^out')" ] || fail "files left: $(ls -A)"
	assert_store_intact
}

@test "img-save -o: ENOSPC in the middle" {
	save_fails write:ENOSPC:bytes=300000 "$ENOSPC"
}

@test "img-save -o: fsync EIO" {
	save_fails fsync:EIO "$EIO"
}

@test "img-save -o: linking the file into place fails" {
	save_fails linkat:EXDEV "$EXDEV"
}

@test "img-save -o: a failed run keeps the FILE that was there" {
	import_tiny tiny:1
	echo old > out.tar
	for spec in write:ENOSPC:bytes=300000 fsync:EIO linkat:EXDEV rename:EXDEV; do
		inj "$spec" img-save -q -o out.tar tiny:1
		[ "$status" -eq 1 ] || fail "$spec: exit $status"
		[ "$(cat out.tar)" = old ] || fail "$spec: out.tar was replaced"
		[ -z "$(ls -A | grep '^out\.tar\.')" ] || fail "$spec: temp left: $(ls -A)"
	done
}

@test "img-save to stdout: a write error in the middle (not EPIPE) is reported" {
	import_tiny tiny:1
	inj write:EIO:fd=1:bytes=300000 img-save -q tiny:1
	[ -s inject.log ] || fail "nothing injected"
	[ "$status" -eq 1 ] || fail "exit $status"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "stderr: $stderr"
	[[ $stderr == "img-save: "*"$EIO"* ]] || fail "stderr: $stderr"
}

@test "img-save -o: SIGINT and SIGTERM in the middle leave no file" {
	import_tiny tiny:1
	snap
	local sig
	for sig in INT TERM; do
		spawn write:PAUSE:2:sleep=30 img-save -q -o out.tar tiny:1
		wait_until 10 'grep -q PAUSE inject.log 2>/dev/null'
		[ ! -e out.tar ] || fail "out.tar visible while writing"
		kill -"$sig" "$SPAWNED"
		local st=0
		wait "$SPAWNED" || st=$?
		[ "$st" -ne 0 ] || fail "SIG$sig: exit 0"
		[ ! -e out.tar ] || fail "SIG$sig: out.tar left"
		[ -z "$(ls -A | grep '^out')" ] || fail "SIG$sig: files left: $(ls -A)"
	done
	assert_store_intact
}

@test "img-save -o: SIGKILL in the middle leaves no file and no temp file, or the old file alone" {
	import_tiny tiny:1
	snap
	local old
	for old in "" old; do
		rm -f out.tar
		[ -z "$old" ] || echo "$old" > out.tar
		spawn write:PAUSE:2:sleep=30 img-save -q -o out.tar tiny:1
		wait_until 10 'grep -q PAUSE inject.log 2>/dev/null'
		kill -KILL "$SPAWNED"
		local st=0
		wait "$SPAWNED" || st=$?
		[ "$st" -eq 137 ] || fail "exit $st, expected 137 (SIGKILL)"
		if [ -z "$old" ]; then
			[ -z "$(ls -A | grep '^out')" ] || fail "files left: $(ls -A)"
		else
			[ "$(cat out.tar)" = old ] || fail "out.tar was replaced"
			[ "$(ls -A | grep '^out')" = out.tar ] || fail "files left: $(ls -A)"
		fi
	done
	assert_store_intact
}

# ---- img-load ----

load_fails() {
	archive
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	inj "$1" img-load -q a.tar
	assert_failed img-load "$2"
	assert_store_intact
}

@test "img-load: ENOSPC in the middle of a layer" {
	load_fails write:ENOSPC:bytes=1000000 "$ENOSPC"
}

@test "img-load: ENOSPC on the first blob" {
	load_fails write:ENOSPC "$ENOSPC"
}

@test "img-load: fsync EIO (first blob, a later blob)" {
	load_fails fsync:EIO "$EIO"
	load_fails fsync:EIO:3 "$EIO"
}

@test "img-load: rename fails (a blob, index.json)" {
	load_fails rename:EXDEV "$EXDEV"
	load_fails rename:EXDEV:path=index.json "$EXDEV"
}

@test "img-load: a read error on the input pipe" {
	archive
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	inj read:EIO:fd=fifo:bytes=1000000 img-load -q < <(cat a.tar)
	assert_failed img-load "$EIO"
	assert_store_intact
}

@test "img-load: SIGTERM and SIGINT in the middle of a slow pipe" {
	archive
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	local sig
	for sig in TERM INT; do
		rm -f in
		mkfifo in
		{ head -c 1600000 a.tar; exec sleep 30; } > in 3>&- &
		local writer=$!
		SPAWN_IN=in spawn "" img-load -q
		# a temp blob exists: the load is under way (its data may still be in memory)
		wait_until 10 '[ -n "$(find "$IMG_STORE/.img/tmp" -type f 2>/dev/null)" ]'
		kill -"$sig" "$SPAWNED"
		local st=0
		wait "$SPAWNED" || st=$?
		kill "$writer" 2>/dev/null || true
		[ "$st" -ne 0 ] || fail "SIG$sig: img-load exited 0"
		assert_store_intact
	done
}

@test "img-load: SIGTERM while a blob is being written (paused write)" {
	archive
	img-import -q "$PEERS/src/tiny-layer2.tar" base:1 > /dev/null
	snap
	spawn write:PAUSE:fd=reg:bytes=500000:sleep=30 img-load -q a.tar
	wait_until 10 'grep -q PAUSE inject.log 2>/dev/null'
	[ -n "$(find "$IMG_STORE/.img/tmp" -type f)" ] || fail "no temp file while writing"
	kill -TERM "$SPAWNED"
	local st=0
	wait "$SPAWNED" || st=$?
	[ "$st" -ne 0 ] || fail "exit 0"
	assert_store_intact
}

# ---- img-tag, img-rm, img-gc ----

@test "img-tag: write, fsync or rename failure leaves the index as it was" {
	local spec why
	two_images
	snap
	for spec in "write:ENOSPC|$ENOSPC" "fsync:EIO|$EIO" "rename:EXDEV|$EXDEV"; do
		why=${spec#*|}
		inj "${spec%%|*}" img-tag tiny:1 tiny:new
		assert_failed img-tag "$why"
		assert_store_intact
	done
	run img-ls tiny
	[[ $output != *new* ]]
}

@test "img-rm: write, fsync or rename failure removes nothing" {
	local spec why
	two_images
	snap
	for spec in "write:ENOSPC|$ENOSPC" "fsync:EIO|$EIO" "rename:EXDEV|$EXDEV"; do
		why=${spec#*|}
		inj "${spec%%|*}" img-rm tiny:1
		assert_failed img-rm "$why"
		assert_store_intact
	done
	[ -n "$(img-ls -q tiny:1)" ]
}

@test "img-gc --dangling: index write failure deletes no blob" {
	local spec why
	two_images
	# an unnamed image: tiny:1's name moves to another image
	img-import -q --compress none "$PEERS/src/tiny-rootfs.tar" tiny:1 > /dev/null
	[ "$(img-ls -a | grep -c '<none>')" -eq 1 ]
	snap
	for spec in "write:ENOSPC|$ENOSPC" "fsync:EIO|$EIO" "rename:EXDEV|$EXDEV"; do
		why=${spec#*|}
		inj "${spec%%|*}" img-gc --dangling
		assert_failed img-gc "$why"
		assert_store_intact
	done
}

@test "img-gc: a blob that cannot be deleted is reported; what is referenced stays" {
	two_images
	img-rm --no-prune base:1 > /dev/null
	cp "$IMG_STORE/index.json" index.before
	local before
	before=$(find "$IMG_STORE/blobs" -type f | wc -l)
	inj unlink:EIO:once:path=blobs/ img-gc
	[ -s inject.log ] || fail "nothing injected"
	[ "$status" -eq 1 ] || fail "exit $status"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "stderr: $stderr"
	[[ $stderr == "img-gc: "*"blobs/sha256/"*"$EIO"* ]] || fail "stderr: $stderr"
	cmp "$IMG_STORE/index.json" index.before
	# the blob that failed is still there, the two others are gone
	[ "$(find "$IMG_STORE/blobs" -type f | wc -l)" -eq $((before - 2)) ]
	img-save -q tiny:1 > /dev/null
	run img-gc
	[ "$status" -eq 0 ]
	[ "$(find "$IMG_STORE/blobs" -type f | wc -l)" -eq $((before - 3)) ]
}

# ---- a failure after the rename: the outcome must still be all or nothing ----

@test "img-save -o: a failure to sync the directory after the rename leaves no FILE if it exits 1" {
	import_tiny tiny:1
	# fsync 1: the temp file; fsync 2: the directory, after the rename
	inj fsync:EIO:2 img-save -q -o out.tar tiny:1
	grep -q 'fsync.*EIO' inject.log || fail "nothing injected"
	if [ "$status" -ne 0 ]; then
		[ ! -e out.tar ] || fail "exit $status ($stderr) but out.tar is there"
	else
		cmp -s out.tar <(img-save tiny:1) || fail "exit 0 but out.tar is wrong"
	fi
	[ -z "$(ls -A | grep '^out\.tar\.')" ] || fail "temp left: $(ls -A)"
}

@test "img-tag: a failure to sync the store after replacing index.json is all or nothing" {
	two_images
	snap
	# fsync 1: the new index; fsync 2: the store directory, after the rename
	inj fsync:EIO:2 img-tag tiny:1 tiny:new
	grep -q 'fsync.*EIO' inject.log || fail "nothing injected"
	if [ "$status" -ne 0 ]; then
		cmp -s "$IMG_STORE/index.json" index.before ||
			fail "exit $status ($stderr) but index.json changed: $(img-ls)"
	else
		[ -n "$(img-ls -q tiny:new)" ] || fail "exit 0 but no tiny:new"
	fi
}

# ---- what a correct program must shrug off ----

@test "short reads and writes, and EINTR, change nothing" {
	import_tiny tiny:1
	img-save tiny:1 > ref.tar
	local want spec
	want=$(img-ls --digests tiny)
	for spec in write:SHORT:fd=any write:SHORT:max=1000 read:SHORT:max=7 \
	            write:EINTR:once:fd=any read:EINTR:once; do
		inj "$spec" sh -c 'exec img-save tiny:1 > o.tar'
		[ "$status" -eq 0 ] || fail "$spec: img-save: exit $status: $stderr"
		cmp -s o.tar ref.tar || fail "$spec: img-save wrote other bytes"
		inj "$spec" img-load -q -S "s-$spec" < ref.tar
		[ "$status" -eq 0 ] || fail "$spec: img-load: exit $status: $stderr"
		[ "$(img-ls -S "s-$spec" --digests tiny)" = "$want" ] || fail "$spec: img-load stored another image"
		inj "$spec" img-import -q -S "i-$spec" - tiny:1 < "$PEERS/src/tiny-rootfs.tar"
		[ "$status" -eq 0 ] || fail "$spec: img-import: exit $status: $stderr"
		[ "$(img-ls -S "i-$spec" --digests tiny)" = "$want" ] || fail "$spec: img-import made another image"
		[ -s inject.log ] || fail "$spec: nothing injected"
	done
}

# ---- stdout on a full device ----

@test "> /dev/full fails for every program that writes to stdout" {
	archive
	import_tiny tiny:1
	local bad=
	full() {
		run --separate-stderr sh -c "$1 > /dev/full"
		if [ "$status" -ne 1 ] || [ "${#stderr_lines[@]}" -ne 1 ] ||
		   [[ $stderr != "${1%% *}: "*"No space left on device"* ]]; then
			bad+="$1 > /dev/full: exit $status, stderr: '$stderr'"$'\n'
		fi
	}
	full "img-import $PEERS/src/tiny-layer2.tar base:1"
	full "img-import --json $PEERS/src/tiny-layer2.tar base:2"
	full "img-save tiny:1"
	full "img-load a.tar"
	full "img-load --json a.tar"
	full "img-ls"
	full "img-ls -q"
	full "img-ls --json"
	img-tag base:1 other:1
	full "img-rm other:1"
	full "img-gc -n"
	full "img-gc --json"
	full "img-gc"
	if [ -x "$IMG_BIN/img-layers" ]; then
		full "img-layers tiny:1"
	fi
	[ -z "$bad" ] || fail "$bad"
}
