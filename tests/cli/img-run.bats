#!/usr/bin/env bats
# img-run and img-exec: images run with runc (as root; skipped otherwise).
bats_require_minimum_version 1.5.0
load ../lib/helper

# Root and runc, or skip with the reason.
need_root_runc() {
	need runc
	[ "$(id -u)" = 0 ] || skip "runc containers need root here"
}

load_tiny() {
	img-load -q "$PEERS/tiny1-oci.tar" "$PEERS/tiny2-oci.tar" >/dev/null
}

# A container name no other test (or worker) uses.
cname() { echo "imgtest-$1-$$-$RANDOM"; }

# Nothing left in the run area's containers and no mount below the store.
assert_clean() {
	local left
	left=$(ls "$IMG_STORE/.img/run/containers" 2>/dev/null)
	[ -z "$left" ] || fail "bundles left: $left"
	! grep -q " $IMG_STORE" /proc/self/mounts || fail "mounts left: $(grep " $IMG_STORE" /proc/self/mounts)"
}

teardown() {
	local c
	for c in $(runc list -q 2>/dev/null | grep "^imgtest-.*-$$-"); do
		runc kill "$c" KILL 2>/dev/null || true
		runc delete -f "$c" 2>/dev/null || true
	done
	[ -d "$IMG_STORE/.img/run" ] && img-gc >/dev/null 2>&1 || true
	grep " $IMG_STORE" /proc/self/mounts | while read -r _ m _; do umount -l "$m"; done || true
}

@test "--help; bad options; no runc on PATH names the package" {
	run --separate-stderr img-run --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: img-run "* ]]
	for o in --detach --entrypoint --env --interactive --name --rm --tty --user --workdir; do
		[[ "$output" == *"$o"* ]] || fail "--help lacks $o"
	done
	run --separate-stderr img-run
	[ "$status" -eq 2 ]
	run --separate-stderr img-run --name 'bad/name' tiny:2
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"invalid container name"* ]]
	run --separate-stderr img-run -d --rm tiny:2
	[ "$status" -eq 2 ]
	run --separate-stderr img-exec x
	[ "$status" -eq 2 ]
	run -1 --separate-stderr env PATH=/nonexistent "$IMG_BIN/img-run" tiny:2
	[ "$stderr" = "img-run: runc not found on PATH (install the runc package)" ]
	run -1 --separate-stderr env PATH=/nonexistent "$IMG_BIN/img-exec" x true
	[ "$stderr" = "img-exec: runc not found on PATH (install the runc package)" ]
}

@test "img-run --rm tiny:2 prints what its Cmd prints; the exit status is the container's; nothing left" {
	need_root_runc
	load_tiny
	run -0 --separate-stderr img-run --rm tiny:2
	[ "$output" = "hello from tiny:2" ]
	run -0 --separate-stderr img-run --rm tiny:1
	[ "$output" = "hello from tiny" ]
	run -7 img-run --rm tiny:2 /bin/sh -c 'exit 7'
	assert_clean
	# the layers as the container sees them: whiteouts, the opaque directory, hard links
	run -0 img-run --rm tiny:2 /bin/sh -c \
		'cat /etc/tiny-release; ls /opt/old /usr/share/tiny; test ! -e /usr/share/tiny/b.txt && echo gone'
	[ "$output" = "$(printf 'tiny v2\n/opt/old:\nz.txt\n\n/usr/share/tiny:\na.txt\nc-link.txt\nc.txt\ngone')" ]
	assert_clean
}

@test "-e, -w, -u and --entrypoint change what the process sees" {
	need_root_runc
	load_tiny
	run -0 img-run --rm -e FOO=bar -e PATH=/bin -w /tmp -u 1000:1001 tiny:2 \
		/bin/sh -c 'echo $FOO; pwd; id -u; id -g'
	[ "$output" = "$(printf 'bar\n/tmp\n1000\n1001')" ]
	run -0 img-run --rm -u nobody tiny:2 /bin/sh -c 'id -u; id -g; echo $HOME'
	[ "$output" = "$(printf '65534\n65534\n/nonexistent')" ]
	run -0 img-run --rm --entrypoint /bin/echo tiny:2 hi there
	[ "$output" = "hi there" ]
	run -0 img-run --rm tiny:2 /bin/sh -c 'echo $HOSTNAME; hostname; echo $HOME'
	[[ "${lines[0]}" == img-* ]] && [ "${lines[1]}" = "${lines[0]}" ] && [ "${lines[2]}" = /root ]
	run -1 --separate-stderr img-run --rm -u nosuchuser tiny:2 true
	[[ "$stderr" == "img-run: unknown user 'nosuchuser'"* ]]
	# stdin: /dev/null without -i, passed with -i
	run -0 bash -c 'echo piped | img-run --rm tiny:2 cat'
	[ -z "$output" ]
	run -0 bash -c 'echo piped | img-run --rm -i tiny:2 cat'
	[ "$output" = piped ]
	# -t: a terminal; --read-only: a root filesystem that takes no writes
	run -0 script -qec "img-run --rm -t tiny:2 /bin/sh -c 'tty; echo \$TERM'" /dev/null
	[[ "$output" == *"/dev/pts/"* ]] && [[ "$output" == *xterm* ]]
	run -1 img-run --rm --read-only tiny:2 /bin/sh -c 'echo x > /etc/x'
	[[ "$output" == *"Read-only file system"* ]]
	assert_clean
}

@test "img-run -d --name x, then img-exec; runc delete and img-gc remove the bundle" {
	need_root_runc
	load_tiny
	x=$(cname x)
	run -0 --separate-stderr img-run -d --name "$x" tiny:2 sleep 30
	[ "$output" = "$x" ]
	run -0 img-exec "$x" cat /etc/tiny-release
	[ "$output" = "tiny v2" ]
	run -3 img-exec "$x" /bin/sh -c 'exit 3'
	run -0 img-exec -e A=1 -w /opt -u 65534 "$x" /bin/sh -c 'echo $A; pwd; id -u'
	[ "$output" = "$(printf '1\n/opt\n65534')" ]
	runc list | grep -q "^$x .*running"
	# the name is taken while runc knows it
	run -1 --separate-stderr img-run --name "$x" tiny:2 true
	[ "$stderr" = "img-run: container '$x' exists (runc list; runc delete $x)" ]
	# img-gc keeps the bundle of a container runc knows
	img-gc >/dev/null
	[ -d "$IMG_STORE/.img/run/containers/$x" ]
	runc kill "$x" KILL
	for i in 1 2 3 4 5 6 7 8 9 10; do runc list | grep -q "^$x .*stopped" && break; sleep 0.2; done
	runc delete "$x"
	img-gc >/dev/null
	assert_clean
}

@test "the image is unpacked once and shared; a foreground run without --rm is kept until runc delete" {
	need_root_runc
	load_tiny
	img-run --rm tiny:2 true
	dir=$(ls -d "$IMG_STORE"/.img/run/images/*/)
	[ -x "$dir/rootfs/bin/hello" ]
	ino=$(stat -c %i "$dir")
	x=$(cname keep)
	run -0 img-run --name "$x" tiny:2 /bin/sh -c 'echo changed > /etc/tiny-release; cat /etc/tiny-release'
	[ "$output" = changed ]
	[ "$(stat -c %i "$dir")" = "$ino" ] || fail "unpacked again"
	# the image below is untouched; the change is the container's own
	[ "$(cat "$dir/rootfs/etc/tiny-release")" = "tiny v2" ]
	[ "$(cat "$IMG_STORE/.img/run/containers/$x/upper/etc/tiny-release")" = changed ]
	runc list | grep -q "^$x .*stopped"
	! grep -q " $IMG_STORE" /proc/self/mounts
	runc delete "$x"
	img-gc >/dev/null
	assert_clean
}

@test "img-gc and img-rm never delete the image of a kept container" {
	need_root_runc
	load_tiny
	x=$(cname gc)
	img-run -d --name "$x" tiny:1 sleep 30 >/dev/null
	m=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="docker.io/library/tiny:1") | .digest' "$IMG_STORE/index.json")
	img-rm tiny:1 >/dev/null
	img-gc >/dev/null
	[ -f "$IMG_STORE/blobs/${m/://}" ] || fail "the manifest of a kept container's image went"
	[ -d "$IMG_STORE/.img/run/images/${m#sha256:}" ]
	run -0 img-exec "$x" cat /etc/tiny-release
	[ "$output" = "tiny v1" ]
	runc kill "$x" KILL
	for i in 1 2 3 4 5 6 7 8 9 10; do runc list | grep -q "^$x .*stopped" && break; sleep 0.2; done
	runc delete "$x"
	img-gc >/dev/null
	[ ! -e "$IMG_STORE/blobs/${m/://}" ]
	[ ! -e "$IMG_STORE/.img/run/images/${m#sha256:}" ]
	assert_clean
}

@test "--rm after Ctrl-C: the container stops, its bundle and mount go" {
	need_root_runc
	load_tiny
	x=$(cname int)
	img-run --rm --name "$x" tiny:2 sleep 60 > out 2>&1 &
	pid=$!
	for i in $(seq 50); do runc list | grep -q "^$x .*running" && break; sleep 0.1; done
	runc list | grep -q "^$x .*running"
	kill -INT "$pid"
	start=$SECONDS
	wait "$pid" || true
	[ $((SECONDS - start)) -lt 15 ]
	! runc list | grep -q "^$x "
	assert_clean
}

@test "the seed's story: an image made with img-import -b prints its changed page" {
	need_root_runc
	load_tiny
	mkdir -p site/www
	echo '<h1>hello</h1>' > site/www/index.html
	img-import -q -b tiny:1 -c 'CMD ["/bin/cat", "/www/index.html"]' site web:1 >/dev/null
	run -0 img-run --rm web:1
	[ "$output" = "<h1>hello</h1>" ]
	echo '<h1>changed</h1>' > site/www/index.html
	img-import -q -b web:1 site web:2 >/dev/null
	run -0 img-run --rm web:2
	[ "$output" = "<h1>changed</h1>" ]
	assert_clean
}

@test "no overlay mount (a store path with a comma): the container gets a copy of its own" {
	need_root_runc
	export IMG_STORE="$BATS_TEST_TMPDIR/st,ore"
	load_tiny
	run -0 img-run --rm tiny:2
	[ "$output" = "hello from tiny:2" ]
	x=$(cname copy)
	run -0 img-run --name "$x" tiny:2 /bin/sh -c 'echo changed > /etc/tiny-release'
	dir=$(ls -d "$IMG_STORE"/.img/run/images/*/)
	[ "$(cat "$dir/rootfs/etc/tiny-release")" = "tiny v2" ]
	[ "$(cat "$IMG_STORE/.img/run/containers/$x/rootfs/etc/tiny-release")" = changed ]
	! grep -q "st,ore" /proc/self/mounts
	runc delete "$x"
	img-gc >/dev/null
	[ -z "$(ls "$IMG_STORE/.img/run/containers")" ]
}
