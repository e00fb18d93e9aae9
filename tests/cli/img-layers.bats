#!/usr/bin/env bats
# img-layers: history, files and wasted space of an image, from the store or an archive.
bats_require_minimum_version 1.5.0
load ../lib/helper

store_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" \
		"oci:$IMG_STORE:docker.io/library/tiny:$1" >/dev/null
}

# The columns that do not depend on how the layers are stored (all but COMPRESSED).
stable() { cut -f1-4,6-; }

@test "the table of tiny:2: one row per history entry, oldest first" {
	store_tiny 2
	run --separate-stderr img-layers tiny:2
	[ "$status" -eq 0 ] || fail "$stderr"
	[ "${#lines[@]}" -eq 5 ]
	[ "${lines[0]}" = "$(printf 'LAYER\tCREATED\tCREATED BY\tSIZE\tCOMPRESSED\tDIFF ID\tCOMMENT')" ]
	[ "$(cut -f1,3- <<<"${lines[1]}")" = "$(printf '0\tbusybox-static rootfs\t2007040\t1084739\teeccac13f4af\t')" ]
	[ "$(cut -f1,3- <<<"${lines[2]}")" = "$(printf -- '-\tumoci config\t0\t0\t-\t')" ]
	[ "$(cut -f1,3- <<<"${lines[3]}")" = "$(printf '1\tmodify, whiteout, opaque, hardlink\t10240\t421\te0ac5db64080\t')" ]
	[ "$(cut -f1,3- <<<"${lines[4]}")" = "$(printf -- '-\tumoci config\t0\t0\t-\t')" ]
	[[ "$(cut -f2 <<<"${lines[1]}")" == *" ago" ]]
}

@test "the same table from the store and from every archive dialect" {
	need podman
	store_tiny 2
	img-layers tiny:2 | stable > store.out
	img-layers --archive "$PEERS/tiny2-docker.tar" | stable > docker.out
	img-layers --archive "$PEERS/tiny2-oci.tar" | stable > oci.out
	img-layers --archive "$PEERS/tiny2-podman-oci.tar" | stable > podman.out
	img-layers --archive "$PEERS/tiny12-multi-docker.tar" --image tiny:2 | stable > multi.out
	img-layers --archive - < "$PEERS/tiny2-oci.tar" | stable > stdin.out
	for f in docker oci podman multi stdin; do
		diff store.out $f.out || fail "$f differs from the store"
	done
	# COMPRESSED: the blob as stored (uncompressed in docker-archive)
	[ "$(img-layers --archive "$PEERS/tiny2-docker.tar" | awk -F'\t' '$1 == "0" { print $5 }')" = 2007040 ]
	[ "$(img-layers --archive "$PEERS/tiny2-podman-oci.tar" | awk -F'\t' '$1 == "0" { print $5 }')" = 1084392 ]
}

@test "several images in an archive: --image picks one, else an error" {
	run --separate-stderr img-layers --archive "$PEERS/tiny12-multi-docker.tar" --image tiny:1
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	run --separate-stderr img-layers --archive "$PEERS/tiny12-multi-docker.tar"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"holds 2 images"* ]]
	run --separate-stderr img-layers --archive "$PEERS/tiny12-multi-docker.tar" --image tiny:3
	[ "$status" -eq 1 ]
}

@test "--files=1: whiteouts as deletions, the opaque marker, the hard link" {
	store_tiny 2
	run --separate-stderr img-layers --files=1 tiny:2
	[ "$status" -eq 0 ]
	diff - <(cut -f1-4,6 <<<"$output") <<-'END'
	dir	0755	0:0	0	etc
	file	0644	0:0	8	etc/tiny-release
	dir	0755	0:0	0	usr
	dir	0755	0:0	0	usr/share
	dir	0755	0:0	0	usr/share/tiny
	whiteout	0644	0:0	0	usr/share/tiny/b.txt
	file	0644	0:0	10	usr/share/tiny/c.txt
	hardlink	0644	0:0	0	usr/share/tiny/c-link.txt link to usr/share/tiny/c.txt
	dir	0755	0:0	0	opt
	dir	0755	0:0	0	opt/old
	opaque	0644	0:0	0	opt/old
	file	0644	0:0	2	opt/old/z.txt
	dir	0755	0:0	0	bin
	file	0755	0:0	33	bin/hello
	END
	[ "$(cut -f5 <<<"${lines[0]}")" = 2025-06-02T00:00:00Z ]
}

@test "--files: every layer, each line prefixed by its index; the same from an archive on stdin" {
	store_tiny 2
	img-layers --files tiny:2 > store.out
	img-layers --files --archive - < "$PEERS/tiny2-docker.tar" > stdin.out
	diff store.out stdin.out
	[ "$(grep -c '^0	' store.out)" -eq "$(tar -tf "$PEERS/src/tiny-rootfs.tar" | wc -l)" ]
	[ "$(grep -c '^1	' store.out)" -eq 14 ]
	grep -qxF "$(printf '0\tsymlink\t0777\t0:0\t0\t2025-06-01T00:00:00Z\tbin/sh -> busybox')" store.out
	run --separate-stderr img-layers --files=2 tiny:2
	[ "$status" -eq 1 ]
	run --separate-stderr img-layers --files=x tiny:2
	[ "$status" -eq 2 ]
}

@test "--wasted: bytes that layer 1 overwrites or deletes, and the files" {
	store_tiny 2
	run --separate-stderr img-layers --wasted tiny:2
	[ "$status" -eq 0 ]
	diff - <(printf '%s\n' "$output") <<-'END'
	layer	0	16
	layer	1	0
	total	16
	file	8	0	etc/tiny-release
	file	4	0	usr/share/tiny/b.txt
	file	2	0	opt/old/x.txt
	file	2	0	opt/old/y.txt
	END
	store_tiny 1
	run img-layers --wasted tiny:1
	[ "$output" = "$(printf 'layer\t0\t0\ntotal\t0')" ]
}

@test "--json: layers, history, files and wasted in one document" {
	store_tiny 2
	run --separate-stderr img-layers --json --files --wasted tiny:2
	[ "$status" -eq 0 ]
	[ "$(jq -r '.layers | length' <<<"$output")" = 2 ]
	[ "$(jq -r '.layers[1].size' <<<"$output")" = 10240 ]
	[ "$(jq -r '.layers[1].diff_id' <<<"$output")" = sha256:e0ac5db640803adc070444c35f994c40019c9fe9c73ed3b88ccf91db9bc4e904 ]
	[ "$(jq -r '[.history[].layer] | map(tostring) | join(",")' <<<"$output")" = "0,null,1,null" ]
	[ "$(jq -r '.wasted.total' <<<"$output")" = 16 ]
	[ "$(jq -r '.files[] | select(.layer == 1 and .type == "whiteout") | .path' <<<"$output")" = usr/share/tiny/b.txt ]
	[ "$(jq -r '.files[] | select(.path == "usr/share/tiny/c.txt") | .sha256' <<<"$output")" = \
		"sha256:$(tar -xOf "$PEERS/src/tiny-layer2.tar" usr/share/tiny/c.txt | sha256sum | cut -d' ' -f1)" ]
	[ "$(jq -r .name <<<"$output")" = docker.io/library/tiny:2 ]
}

@test "--help, bad option, operands, missing image or file" {
	run --separate-stderr img-layers --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: img-layers "* ]]
	run --separate-stderr img-layers --bogus x
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-layers "* ]]
	run --separate-stderr img-layers
	[ "$status" -eq 2 ]
	run --separate-stderr img-layers --archive x.tar tiny:2
	[ "$status" -eq 2 ]
	run --separate-stderr img-layers --image tiny:2 tiny:2
	[ "$status" -eq 2 ]
	run --separate-stderr img-layers --archive nonexistent.tar
	[ "$status" -eq 1 ]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[[ "$stderr" == "img-layers: "*"nonexistent.tar"* ]]
	store_tiny 2
	run --separate-stderr img-layers nosuch:1
	[ "$status" -eq 1 ]
	[[ "$stderr" == "img-layers: "*"nosuch"* ]]
	run --separate-stderr img-layers --archive - < /dev/null
	[ "$status" -eq 1 ]
}

@test "a write error on stdout fails (exit 1)" {
	store_tiny 2
	run --separate-stderr sh -c 'img-layers --files tiny:2 > /dev/full'
	[ "$status" -eq 1 ]
	[[ "$stderr" == "img-layers: "* ]]
}

@test "--archive: each layer read while it streams past (or read back from a file), nothing written, documents last" {
	store_tiny 2
	img-layers --files tiny:2 > files.out
	img-layers --wasted tiny:2 > wasted.out
	img-layers --json --files --wasted tiny:2 | jq -S '{files, wasted, layers: [.layers[] | del(.digest, .compressed_size)]}' > all.out
	docs_last "$PEERS/tiny2-docker.tar" docker-late.tar
	docs_last "$PEERS/tiny2-oci.tar" oci-late.tar
	[ "$(tar -tf docker-late.tar | tail -n 3 | sed -n 2p)" = manifest.json ]
	gzip -c oci-late.tar > oci-late.tar.gz
	for f in docker-late.tar oci-late.tar oci-late.tar.gz "$PEERS/tiny2-podman-oci.tar"; do
		cat "$f" | TMPDIR=/nonexistent/img-layers img-layers --files --archive - > pipe.out ||
			fail "$f: --files"
		diff files.out pipe.out || fail "$f: --files differs from the store"
		cat "$f" | TMPDIR=/nonexistent/img-layers img-layers --wasted --archive - > pipe.out ||
			fail "$f: --wasted"
		diff wasted.out pipe.out || fail "$f: --wasted differs from the store"
		cat "$f" | TMPDIR=/nonexistent/img-layers img-layers --json --files --wasted --archive - |
			jq -S '{files, wasted, layers: [.layers[] | del(.digest, .compressed_size)]}' > pipe.out
		diff all.out pipe.out || fail "$f: --json differs from the store"
		# from a file, or stdin on one: read back from it, nothing written either
		TMPDIR=/nonexistent/img-layers img-layers --files --archive "$f" > file.out
		diff files.out file.out || fail "$f: --files from the file differs from the store"
		TMPDIR=/nonexistent/img-layers img-layers --wasted --archive - < "$f" > file.out
		diff wasted.out file.out || fail "$f: --wasted from stdin differs from the store"
	done
	# a layer that is not a tar: said when its files are asked for, not before
	python3 - <<-'EOF2'
	import gzip, hashlib, io, json, tarfile
	junk = gzip.compress(b'not a tar\n', mtime=0)
	cfg = json.dumps({'architecture': 'amd64', 'os': 'linux', 'rootfs': {'type': 'layers',
	      'diff_ids': ['sha256:' + hashlib.sha256(b'not a tar\n').hexdigest()]}}).encode()
	man = json.dumps([{'Config': 'c.json', 'RepoTags': ['junk:1'], 'Layers': ['l.gz']}]).encode()
	with tarfile.open('junk.tar', 'w') as t:
	    for n, b in (('l.gz', junk), ('c.json', cfg), ('manifest.json', man)):
	        i = tarfile.TarInfo(n); i.size = len(b); t.addfile(i, io.BytesIO(b))
	EOF2
	run --separate-stderr sh -c 'cat junk.tar | TMPDIR=/nonexistent img-layers --archive -'
	[ "$status" -eq 0 ] || fail "table: $stderr"
	run --separate-stderr sh -c 'cat junk.tar | TMPDIR=/nonexistent img-layers --files --archive -'
	[ "$status" -eq 1 ]
	[[ "$stderr" == "img-layers: layer 0 (sha256:"*"): not a tar archive" ]] || fail "stderr: $stderr"
}
