#!/usr/bin/env bats
# img-diff: config, layers and files of two images, from the store or archives.
bats_require_minimum_version 1.5.0
load ../lib/helper

# Put the peers' tiny images into $IMG_STORE with skopeo: store_tiny 1
store_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" \
		"oci:$IMG_STORE:docker.io/library/tiny:$1" >/dev/null
}

# What tiny:2's layer does to tiny:1 (peers README), in img-diff's order.
expected_files() {
	cat <<-'END'
	A bin/hello
	M etc/tiny-release (content)
	D opt/old/x.txt
	D opt/old/y.txt
	A opt/old/z.txt
	D usr/share/tiny/b.txt
	A usr/share/tiny/c-link.txt (hard link to usr/share/tiny/c.txt)
	A usr/share/tiny/c.txt
	END
}

files_of() { grep -E '^[ADM] ' <<<"$1"; }

check_tiny12() {
	[ "$status" -eq 1 ] || fail "exit $status: $stderr"
	diff <(expected_files) <(files_of "$output") || fail "files differ from the expected list"
	grep -qxF 'C Cmd: ["/bin/sh","-c","echo hello from tiny"] -> ["/bin/hello"]' <<<"$output" ||
		fail "no Cmd change: $output"
	grep -qx 'L layers differ: 1 shared by diff_id.*; A has 0 more, B has 1 more' <<<"$output" ||
		fail "no layer line: $output"
	# nothing else in the config differs: Env is the same
	! grep -q '^C Env' <<<"$output"
}

@test "tiny:1 vs tiny:2 in the store: exactly the peers' changes" {
	store_tiny 1
	store_tiny 2
	run --separate-stderr img-diff --ignore-mtime tiny:1 tiny:2
	check_tiny12
}

@test "the same from tiny2-docker.tar, tiny2-oci.tar, tiny2-podman-oci.tar and stdin" {
	store_tiny 1
	for f in tiny2-docker.tar tiny2-oci.tar tiny2-podman-oci.tar; do
		run --separate-stderr img-diff --ignore-mtime tiny:1 "archive:$PEERS/$f"
		check_tiny12
	done
	run --separate-stderr img-diff --ignore-mtime tiny:1 archive:- < "$PEERS/tiny2-docker.tar"
	check_tiny12
	# both sides archives, one of them on stdin
	run --separate-stderr img-diff --ignore-mtime "archive:$PEERS/tiny1-docker.tar" archive:- \
		< "$PEERS/tiny2-oci.tar"
	check_tiny12
}

@test "without --ignore-mtime the re-listed parent directories show as modified (mtime)" {
	store_tiny 1
	store_tiny 2
	run --separate-stderr img-diff tiny:1 tiny:2
	[ "$status" -eq 1 ]
	for d in bin etc opt opt/old usr usr/share usr/share/tiny; do
		grep -qxF "M $d (mtime)" <<<"$output" || fail "no 'M $d (mtime)': $output"
	done
	grep -qxF 'M etc/tiny-release (content, mtime)' <<<"$output"
	[ "$(files_of "$output" | wc -l)" -eq 15 ]
}

@test "reversed: additions become deletions" {
	store_tiny 1
	store_tiny 2
	run --separate-stderr img-diff --ignore-mtime tiny:2 tiny:1
	[ "$status" -eq 1 ]
	diff <(expected_files | sed 's/ (hard link.*//; s/^A /X /; s/^D /A /; s/^X /D /') \
		<(files_of "$output")
	grep -qx 'L layers differ: 1 shared by diff_id; A has 1 more, B has 0 more' <<<"$output"
}

@test "an image and itself: exit 0, nothing printed" {
	store_tiny 2
	run --separate-stderr img-diff tiny:2 tiny:2
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run --separate-stderr img-diff tiny:2 "archive:$PEERS/tiny2-oci.tar"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "round trip through skopeo docker-archive: other layer digests, same files, exit 0" {
	need skopeo
	store_tiny 2
	skopeo copy -q "oci:$IMG_STORE:docker.io/library/tiny:2" docker-archive:rt.tar:tiny:2
	run --separate-stderr img-diff --ignore-mtime tiny:2 archive:rt.tar
	[ "$status" -eq 0 ] || fail "exit $status: $output $stderr"
	grep -qx 'L layers differ: 2 shared by diff_id (2 stored as other blobs); A has 0 more, B has 0 more' \
		<<<"$output" || fail "no layers line: $output"
	[ -z "$(files_of "$output")" ]
}

@test "shared layers are not read: a damaged shared base does not matter, until it is needed" {
	store_tiny 1
	store_tiny 2
	base=$(jq -r '.layers[0].digest' "$IMG_STORE/blobs/sha256/$(jq -r '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == "docker.io/library/tiny:2") |
		.digest' "$IMG_STORE/index.json" | cut -d: -f2)")
	chmod u+w "$IMG_STORE/blobs/sha256/${base#sha256:}"
	printf 'not a layer' > "$IMG_STORE/blobs/sha256/${base#sha256:}"
	run --separate-stderr img-diff --ignore-mtime tiny:2 "archive:$PEERS/tiny2-docker.tar"
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	run --separate-stderr img-diff --ignore-mtime tiny:1 tiny:2
	[ "$status" -eq 2 ]
	[[ "$stderr" == "img-diff: tiny:1: layer 0 "* ]] || fail "stderr: $stderr"
}

# Layers with a hard link, a file that becomes a directory, a whiteout, an opaque directory:
# base.tar, then a.tar and b.tar, each on top of it.
make_layers() {
	python3 - <<-'EOF'
	import io, tarfile
	def add(t, name, kind='f', data=b'', link=None, mtime=1000):
	    i = tarfile.TarInfo(name); i.mtime = mtime; i.mode = 0o644; i.uid = i.gid = 0
	    if kind == 'f': i.size = len(data); t.addfile(i, io.BytesIO(data))
	    elif kind == 'd': i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
	    else: i.type = tarfile.LNKTYPE; i.linkname = link; t.addfile(i)
	with tarfile.open('base.tar', 'w', format=tarfile.PAX_FORMAT) as t:
	    add(t, 'etc', 'd'); add(t, 'etc/a.txt', data=b'same\n')
	    add(t, 'etc/h', 'h', link='etc/a.txt'); add(t, 'd', data=b'file-d\n')
	    add(t, 'keep', 'd'); add(t, 'keep/big', data=b'untouched\n' * 1000)
	    add(t, 'w.txt', data=b'whited\n'); add(t, 'm.txt', data=b'one\n')
	with tarfile.open('b.tar', 'w', format=tarfile.PAX_FORMAT) as t:
	    add(t, 'etc/h', data=b'same\n'); add(t, 'd/x', data=b'x\n'); add(t, '.wh.w.txt')
	    add(t, 'n.txt', data=b'new\n'); add(t, 'm.txt', data=b'one\n', mtime=2000)
	with tarfile.open('a.tar', 'w', format=tarfile.PAX_FORMAT) as t:
	    add(t, 'm.txt', data=b'two\n'); add(t, 'keep/.wh..wh..opq'); add(t, 'keep/new', data=b'n\n')
	EOF
}

@test "shared layers are scanned for what the other layers touch: hard links, dir/file, whiteouts" {
	make_layers
	for c in gzip zstd none; do
		img-import -q --compress $c base.tar t/base-$c >/dev/null
		img-import -q -b t/base-$c b.tar t/b-$c >/dev/null
		img-import -q -b t/base-$c a.tar t/a-$c >/dev/null
		run --separate-stderr img-diff t/base-$c t/b-$c
		[ "$status" -eq 1 ] || fail "$c: exit $status: $stderr"
		# etc/h had the content of etc/a.txt (through the hard link): only the link changed
		diff - <(files_of "$output") <<-'EOF' || fail "$c: base vs b"
		M d (type, content, size, mode, mtime)
		A d/x
		M etc/h (hardlink)
		M m.txt (mtime)
		A n.txt
		D w.txt
		EOF
		run --separate-stderr img-diff t/a-$c t/b-$c
		[ "$status" -eq 1 ] || fail "$c: exit $status: $stderr"
		grep -qx 'L layers differ: 1 shared by diff_id; A has 1 more, B has 1 more' <<<"$output"
		diff - <(files_of "$output") <<-'EOF' || fail "$c: a vs b"
		M d (type, content, size, mode, mtime)
		A d/x
		M etc/h (hardlink)
		A keep/big
		D keep/new
		M m.txt (content, mtime)
		A n.txt
		D w.txt
		EOF
	done
}

@test "a truncated shared layer, when it is needed: trouble (exit 2), one clear line" {
	make_layers
	img-import -q base.tar t/base >/dev/null
	img-import -q -b t/base b.tar t/b >/dev/null
	blob=$(img-layers --json t/base | jq -r '.layers[0].digest')
	f="$IMG_STORE/blobs/sha256/${blob#sha256:}"
	chmod u+w "$f"
	head -c 200 "$f" > cut && cat cut > "$f"
	run --separate-stderr img-diff t/base t/b
	[ "$status" -eq 2 ]
	[[ "$stderr" == "img-diff: t/base: layer 0 ($blob): truncated archive" ]] || fail "stderr: $stderr"
}

@test "--json: one document with config, layers and files" {
	store_tiny 1
	store_tiny 2
	run --separate-stderr img-diff --json --ignore-mtime tiny:1 tiny:2
	[ "$status" -eq 1 ]
	[ "$(jq -r .same <<<"$output")" = false ]
	[ "$(jq -r '.config[] | select(.field == "Cmd") | .b[0]' <<<"$output")" = /bin/hello ]
	[ "$(jq -r .layers.shared <<<"$output")" = 1 ]
	[ "$(jq -r '.a.name' <<<"$output")" = docker.io/library/tiny:1 ]
	diff <(expected_files | sed 's/ (.*//') \
		<(jq -r '.files[] | .change + " " + .path' <<<"$output")
	[ "$(jq -r '.files[] | select(.path == "usr/share/tiny/c-link.txt") | .hardlink' <<<"$output")" \
		= usr/share/tiny/c.txt ]
	[ "$(jq -r '.files[] | select(.path == "etc/tiny-release") | .what | join(",")' <<<"$output")" \
		= content ]
}

@test "a corrupted archive blob is refused (exit 2)" {
	store_tiny 1
	mkdir x
	tar -xf "$PEERS/tiny2-docker.tar" -C x
	chmod -R u+w x
	printf 'junk' >> x/e0ac5db640803adc070444c35f994c40019c9fe9c73ed3b88ccf91db9bc4e904.tar
	tar -cf bad.tar -C x .
	run --separate-stderr img-diff tiny:1 archive:bad.tar
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"diff_id mismatch"* ]] || fail "stderr: $stderr"
}

@test "--help, bad option, operands, missing image or file, stdin twice" {
	run --separate-stderr img-diff --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: img-diff "* ]]
	run --separate-stderr img-diff --bogus a b
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-diff "* ]]
	run --separate-stderr img-diff only-one
	[ "$status" -eq 2 ]
	store_tiny 1
	run --separate-stderr img-diff tiny:1 archive:nonexistent.tar
	[ "$status" -eq 2 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == "img-diff: "*"nonexistent.tar"* ]] || fail "stderr: $stderr"
	run --separate-stderr img-diff tiny:1 nosuch:9
	[ "$status" -eq 2 ]
	[[ "$stderr" == "img-diff: "*"nosuch"* ]] || fail "stderr: $stderr"
	run --separate-stderr img-diff archive:- archive:- < /dev/null
	[ "$status" -eq 2 ]
}

@test "a write error on stdout is trouble (exit 2)" {
	store_tiny 1
	store_tiny 2
	run --separate-stderr sh -c 'img-diff tiny:1 tiny:2 > /dev/full'
	[ "$status" -eq 2 ]
	[[ "$stderr" == "img-diff: "* ]]
}

@test "string config fields that differ: one C line each, values as JSON, exit 1" {
	import_tiny a:1
	img-import -q -b a:1 -c 'USER nobody' -c 'WORKDIR /x' -c 'STOPSIGNAL SIGTERM' \
		-c 'LABEL k=a\\b' "$PEERS/src/tiny-layer2.tar" a:2 >/dev/null
	img-import -q -b a:1 -c 'USER ""' "$PEERS/src/tiny-layer2.tar" a:3 >/dev/null
	img-import -q --platform linux/arm64 "$PEERS/src/tiny-rootfs.tar" a:arm >/dev/null
	run -1 --separate-stderr img-diff --ignore-mtime a:1 a:2
	[ -z "$stderr" ] || fail "stderr: $stderr"
	grep -qx 'C User: null -> "nobody"' <<<"$output" || fail "$output"
	grep -qx 'C WorkingDir: null -> "/x"' <<<"$output" || fail "$output"
	grep -qx 'C StopSignal: null -> "SIGTERM"' <<<"$output" || fail "$output"
	# a backslash as JSON writes it, and the value parses as JSON
	line=$(grep '^C Labels: ' <<<"$output") || fail "$output"
	[ "$(sed 's/^C Labels: null -> //' <<<"$line" | jq -r .k)" = 'a\b' ] || fail "$line"
	run -1 --separate-stderr img-diff --ignore-mtime a:1 a:3
	[ -z "$stderr" ] || fail "stderr: $stderr"
	grep -qx 'C User: null -> ""' <<<"$output" || fail "$output"
	run -1 --separate-stderr img-diff a:1 a:arm
	[ -z "$stderr" ] || fail "stderr: $stderr"
	grep -qx 'C platform: "linux/amd64" -> "linux/arm64"' <<<"$output" ||
		grep -qx 'C platform: "linux/[a-z0-9]*" -> "linux/arm64"' <<<"$output" || fail "$output"
}

@test "archive:-: each layer read while it streams past, nothing written (\$TMPDIR unusable), documents last" {
	store_tiny 1
	docs_last "$PEERS/tiny2-docker.tar" docker-late.tar
	docs_last "$PEERS/tiny2-oci.tar" oci-late.tar
	gzip -c oci-late.tar > oci-late.tar.gz
	for f in docker-late.tar oci-late.tar.gz; do
		run --separate-stderr sh -c "cat $f | TMPDIR=/nonexistent/img-diff img-diff --ignore-mtime tiny:1 archive:-"
		check_tiny12
		# both sides archives: a file, and a pipe
		run --separate-stderr sh -c "cat $f | TMPDIR=/nonexistent/img-diff img-diff --ignore-mtime archive:$PEERS/tiny1-oci.tar archive:-"
		check_tiny12
		run --separate-stderr sh -c "cat $f | TMPDIR=/nonexistent/img-diff img-diff --ignore-mtime archive:- archive:$PEERS/tiny1-docker.tar"
		[ "$status" -eq 1 ] || fail "$f reversed: exit $status: $stderr"
		[ "$(files_of "$output" | wc -l)" -eq "$(expected_files | wc -l)" ]
	done
}
