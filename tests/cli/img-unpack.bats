#!/usr/bin/env bats
# img-unpack: an image's root filesystem into a directory, or an OCI runtime bundle.
bats_require_minimum_version 1.5.0
load ../lib/helper

treesum() { python3 "$FIX/treesum.py" "$1"; }

load_tiny() {
	img-load -q "$PEERS/tiny1-oci.tar" "$PEERS/tiny2-oci.tar" >/dev/null
}

# $stderr is one line holding MSG.
one_line() {
	[[ $stderr == *"$1"* ]] || fail "stderr: $stderr (wanted: $1)"
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || fail "not one line: $stderr"
}

@test "--help prints usage and options on stdout" {
	run --separate-stderr img-unpack --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: img-unpack "* ]]
	for o in --bundle --force --platform --read-only --store --tty; do
		[[ "$output" == *"$o"* ]] || fail "--help lacks $o"
	done
}

@test "bad option or operands: usage on stderr, exit 2" {
	run --separate-stderr img-unpack tiny:1
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-unpack"* ]]
	run --separate-stderr img-unpack --read-only tiny:1 d
	[ "$status" -eq 2 ]
	run --separate-stderr img-unpack --nope tiny:1 d
	[ "$status" -eq 2 ]
}

@test "tiny:1 and tiny:2: the same tree as umoci unpack, and as img-export's tar" {
	need umoci
	load_tiny
	for t in 1 2; do
		rm -rf d bundle x
		run -0 --separate-stderr img-unpack tiny:$t d
		[ -z "$output$stderr" ]
		umoci unpack --image "$IMG_STORE:docker.io/library/tiny:$t" bundle >/dev/null 2>umoci.err || fail "umoci: $(cat umoci.err)"
		treesum d > got.sum
		treesum bundle/rootfs > want.sum
		[ -s want.sum ]
		diff want.sum got.sum || fail "tiny:$t differs from umoci's tree"
		mkdir x
		img-export tiny:$t | tar --xattrs --xattrs-include='*' --numeric-owner -p -C x -xf -
		treesum x > exp.sum
		diff got.sum exp.sum || fail "tiny:$t differs from img-export's tar"
	done
	# the whiteouts, the opaque directory and the hard link, on disk
	[ ! -e d/usr/share/tiny/b.txt ]
	[ "$(ls d/opt/old)" = z.txt ]
	[ "$(stat -c %i d/usr/share/tiny/c.txt)" = "$(stat -c %i d/usr/share/tiny/c-link.txt)" ]
	[ "$(stat -c %a d/tmp)" = 1777 ]
	[ "$(stat -c %a d/root)" = 700 ]
}

@test "owners, modes, xattrs, FIFOs and devices of an imported tree" {
	sh "$FIX/mktree.sh" tree
	img-import -q tree t:1 >/dev/null
	img-unpack t:1 d
	treesum tree > want.sum
	treesum d > got.sum
	diff want.sum got.sum
	grep -q "user.comment=" got.sum
	grep -q $'\tfifo\t' got.sum
}

@test "a non-empty DIR is refused; --force empties it first" {
	load_tiny
	mkdir d
	echo old > d/old
	run -1 --separate-stderr img-unpack tiny:1 d
	one_line "img-unpack: d: not empty (--force empties it)"
	[ -f d/old ]
	img-unpack --force tiny:1 d
	[ ! -e d/old ]
	[ -x d/bin/busybox ]
	# a file in the way, or a missing parent: one line, exit 1
	run -1 --separate-stderr img-unpack tiny:1 d/bin/busybox
	one_line "img-unpack: d/bin/busybox"
	run -1 --separate-stderr img-unpack tiny:1 nope/d
	one_line "img-unpack: nope/d: No such file or directory"
	run -1 --separate-stderr img-unpack nope:1 e
	one_line "img-unpack: no such image: nope:1"
	[ ! -e e ]
}

@test "a damaged layer: exit 1 naming it, and the DIR it made is gone" {
	load_tiny
	m=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="docker.io/library/tiny:2") | .digest' "$IMG_STORE/index.json" | cut -d: -f2)
	layer=$(jq -r '.layers[1].digest' "$IMG_STORE/blobs/sha256/$m" | cut -d: -f2)
	f=$IMG_STORE/blobs/sha256/$layer
	chmod u+w "$f"
	head -c 300 "$f" > cut && cat cut > "$f"
	run -1 --separate-stderr img-unpack tiny:2 d
	one_line "img-unpack: layer sha256:$layer: "
	[ ! -e d ]
}

@test "--bundle: rootfs and a config.json from the image config (runtime-spec 1.0)" {
	load_tiny
	img-unpack --bundle tiny:2 b
	[ "$(stat -c %a b)" = 700 ]
	[ -x b/rootfs/bin/hello ]
	c=b/config.json
	[ "$(jq -r .ociVersion $c)" = 1.0.2 ]
	[ "$(jq -c .process.args $c)" = '["/bin/hello"]' ]
	[ "$(jq -c .process.env $c)" = '["PATH=/bin","HOSTNAME=img","HOME=/root"]' ]
	[ "$(jq -r .process.cwd $c)" = / ]
	[ "$(jq -c .process.user $c)" = '{"uid":0,"gid":0}' ]
	[ "$(jq -r .process.terminal $c)" = false ]
	[ "$(jq -r .root.path $c)" = rootfs ]
	[ "$(jq -r .root.readonly $c)" = false ]
	[ "$(jq -r '[.mounts[].destination] | join(" ")' $c)" = "/proc /dev /dev/pts /dev/shm /dev/mqueue /sys" ]
	[ "$(jq -r '[.linux.namespaces[].type] | join(" ")' $c)" = "pid network ipc uts mount" ]
	img-unpack --bundle --read-only -t tiny:1 b1
	[ "$(jq -r .root.readonly b1/config.json)" = true ]
	[ "$(jq -r .process.terminal b1/config.json)" = true ]
	[ "$(jq -c .process.args b1/config.json)" = '["/bin/sh","-c","echo hello from tiny"]' ]
	[[ "$(jq -c .process.env b1/config.json)" == *'"TERM=xterm"'* ]]
}

@test "--bundle: USER, WORKDIR, ENV and ENTRYPOINT of the image; users and groups from its /etc" {
	load_tiny
	mkdir -p top/etc top/home/app
	cat > top/etc/passwd <<-E
	root:x:0:0:root:/root:/bin/sh
	app:x:1000:1000:app:/home/app:/bin/sh
	E
	cat > top/etc/group <<-E
	root:x:0:
	app:x:1000:
	staff:x:50:app,other
	wheel:x:10:root
	E
	img-import -q -b tiny:1 -c 'USER app' -c 'WORKDIR /home/app' -c 'ENV A=1' \
		-c 'ENTRYPOINT ["/bin/echo"]' -c 'CMD ["hi"]' top u:1 >/dev/null
	img-unpack --bundle u:1 b
	c=b/config.json
	[ "$(jq -c .process.user $c)" = '{"uid":1000,"gid":1000,"additionalGids":[50]}' ]
	[ "$(jq -r .process.cwd $c)" = /home/app ]
	[ "$(jq -c .process.args $c)" = '["/bin/echo","hi"]' ]
	[ "$(jq -c .process.env $c)" = '["PATH=/bin","A=1","HOSTNAME=img","HOME=/home/app"]' ]
	[ "$(jq -c .process.capabilities.effective $c)" = '[]' ]
	mkdir empty
	img-import -q -b u:1 -c 'USER 7:staff' empty u:2 >/dev/null
	img-unpack --bundle u:2 b2
	[ "$(jq -c .process.user b2/config.json)" = '{"uid":7,"gid":50}' ]
	img-import -q -b u:1 -c 'USER nobody' empty u:3 >/dev/null
	run -1 --separate-stderr img-unpack --bundle u:3 b3
	one_line "unknown user 'nobody'"
}

@test "hostile layers unpack nothing outside DIR: a canary stays, each exits 1 with one line or writes inside" {
	local m out=$BATS_TEST_TMPDIR/outside
	mkdir "$out"
	echo canary > "$out/canary"
	modes="U-rootsym U-dirsym U-later U-symfile U-hardabs U-whdotdot U-whup L-dotdot L-abs L-opqroot L-whempty L-symdir L-hardlater L-hardout L-weird"
	args=()
	for m in $modes; do args+=("$m=$BATS_TEST_TMPDIR/$m.tar"); done
	HOSTILE_OUTSIDE=$out python3 "$FIX/hostile.py" "$PEERS" "${args[@]}"
	# the outside directory, and the names beside DIR
	snapshot() {
		find "$out" -printf '%p %y %s %m %T@\n' | sort
		cat "$out/canary"
		ls -a "$BATS_TEST_TMPDIR" | grep -v '^d$\|^store$\|^snap\.\|^separate-stderr'
		ls -a / | grep outside || true
	}
	snapshot > snap.before
	for m in $modes; do
		rm -rf d "$IMG_STORE"
		img-load -q "$m.tar" >/dev/null
		run --separate-stderr img-unpack hostile:1 d
		case $m in
		U-hardabs) [ "$status" -eq 1 ]; one_line "hard link 'h': target '${out#/}/canary' not found" ;;
		U-whdotdot) [ "$status" -eq 1 ]; one_line "invalid whiteout 'etc/.wh..'" ;;
		L-dotdot) [ "$status" -eq 1 ]; one_line "path '../x' contains '..'" ;;
		L-whempty) [ "$status" -eq 1 ]; one_line "invalid whiteout 'etc/.wh.'" ;;
		L-hardlater) [ "$status" -eq 1 ]; one_line "hard link 'h': target 'f' not found" ;;
		L-hardout) [ "$status" -eq 1 ]; one_line "path '../../etc/passwd' contains '..'" ;;
		L-weird) [ "$status" -eq 1 ]; one_line "hard link 'h\\033[0m': target 'missing\\012file' not found" ;;
		*) [ "$status" -eq 0 ] || fail "$m: exit $status: $stderr" ;;
		esac
		snapshot > snap.after
		diff snap.before snap.after || fail "$m changed something outside DIR"
		# what was written went inside
		case $m in
		U-rootsym) [ -d d ] && [ ! -L d ] && [ "$(cat d/x)" = x ] ;;
		U-dirsym) [ -d d/etc ] && [ ! -L d/etc ] && [ "$(cat d/etc/x)" = x ] && [ ! -e d/etc/passwd ] ;;
		U-later) [ "$(cat d/abs/x)" = x ] && [ "$(cat d/up/y)" = y ] && [ -d d/abs/d ] && [ ! -L d/abs ] ;;
		U-symfile) [ "$(cat d/f)" = pwned ] && [ ! -L d/f ] ;;
		U-whup) [ -d d/s ] && [ ! -L d/s ] ;;
		L-symdir) [ "$(cat d/d/passwd)" = "root::0:0::/:/bin/sh" ] && [ ! -L d/d ] ;;
		L-abs) [ "$(cat d/etc/abs)" = abs ] ;;
		L-opqroot) [ "$(ls d)" = new ] ;;
		esac || fail "$m: not written inside DIR as expected"
	done
}

@test "as a user: no chown, devices left out with one warning, setuid bits dropped" {
	command -v setpriv >/dev/null || skip "setpriv not installed"
	[ "$(id -u)" = 0 ] || skip "needs root to switch to a user"
	mkdir -p tree/dev tree/bin
	mknod tree/dev/null c 1 3
	echo x > tree/bin/su
	chmod 4755 tree/bin/su
	chown 5:5 tree/bin
	img-import -q tree dev:1 >/dev/null
	local p=$BATS_TEST_TMPDIR
	while [ "$p" != / ]; do chmod a+x "$p"; p=$(dirname "$p"); done
	mkdir d && chown 65534:65534 d
	chmod -R a+rX "$IMG_STORE"
	run -0 --separate-stderr setpriv --reuid 65534 --regid 65534 --clear-groups \
		env IMG_STORE="$IMG_STORE" "$(command -v img-unpack)" dev:1 d
	one_line "img-unpack: 1 device left out (not root)"
	[ ! -e d/dev/null ]
	[ "$(stat -c %u:%a d/bin/su)" = 65534:755 ]
	[ "$(stat -c %u d/bin)" = 65534 ]
}

@test "a file a later layer replaces: its bytes, mode, owner and xattrs only; hard-linked names keep theirs" {
	mkdir -p low/etc up/etc
	printf 'old contents, longer than the new\n' > low/etc/a
	chmod 4755 low/etc/a
	setfattr -n user.old -v 1 low/etc/a
	[ "$(id -u)" != 0 ] || chown 5:5 low/etc/a
	echo linked > low/etc/h1
	ln low/etc/h1 low/etc/h2
	echo keep > low/etc/k
	img-import -q low t:low >/dev/null
	echo new > up/etc/a
	chmod 640 up/etc/a
	echo other > up/etc/h1
	img-import -q -b t:low up t:up >/dev/null
	img-unpack t:up d
	[ "$(cat d/etc/a)" = new ]
	[ "$(stat -c %a:%u d/etc/a)" = "640:$(id -u)" ]
	[ -z "$(getfattr -d d/etc/a 2>/dev/null)" ] || fail "d/etc/a kept a lower layer's xattr"
	[ "$(cat d/etc/h1)" = other ]
	[ "$(cat d/etc/h2)" = linked ]
	[ "$(stat -c %h d/etc/h2)" = 1 ]
	[ "$(cat d/etc/k)" = keep ]
	mkdir x
	img-export t:up | tar --xattrs --xattrs-include='*' --numeric-owner -p -C x -xf -
	treesum d > got.sum
	treesum x > want.sum
	diff want.sum got.sum
}

@test "what a later layer replaces, whites out or hides under an opaque directory is not written" {
	mkdir -p low/etc low/gone low/opq up/etc up/opq
	head -c 2097152 /dev/zero > low/etc/big
	cp low/etc/big low/gone/big
	cp low/etc/big low/opq/big
	echo linked > low/etc/h1
	ln low/etc/h1 low/etc/h2
	img-import -q low t:low >/dev/null
	echo small > up/etc/big
	echo other > up/etc/h1
	: > up/.wh.gone
	: > up/opq/.wh..wh..opq
	echo y > up/opq/y
	tar -C up -cf up.tar .
	img-import -q -b t:low up.tar t:up >/dev/null
	# no file of 1 MiB can be written: the lower layer alone fails, the image goes through,
	# its 2 MiB files all hidden by the upper layer
	run bash -c 'ulimit -f 1024; exec img-unpack t:low d0'
	[ "$status" -ne 0 ]
	run -0 --separate-stderr bash -c 'ulimit -f 1024; exec img-unpack t:up d'
	[ "$(cat d/etc/big)" = small ]
	[ ! -e d/gone ]
	[ "$(ls d/opq)" = y ]
	[ "$(cat d/etc/h1)" = other ]
	[ "$(cat d/etc/h2)" = linked ]
	mkdir x
	img-export t:up | tar --xattrs --xattrs-include='*' --numeric-owner -p -C x -xf -
	treesum d > got.sum
	treesum x > want.sum
	diff want.sum got.sum
}
