#!/usr/bin/env bats
# img-save: store -> one archive that docker, skopeo and umoci read.
load ../lib/helper
bats_require_minimum_version 1.5.0

TINY1_MANIFEST=sha256:0a2a3122db41ea792d4559dc10729e941cf70e135918e319973882e369b7f293
TINY1_CONFIG=sha256:291532133922ff779c311f42482c9ac76ce61076beadbb66d1e682bf97fc9846
TINY2_MANIFEST=sha256:8ded9eff6d51b75a32fd1e7ead912fe4ec319961e9378581a02a87acf8aacfaa
BASE_LAYER=sha256:2d0d77dbd6ed0a292c7048a6e0b228f6ead8f17ba05cd9df4cbcad302908cb9a
TOP_LAYER=sha256:802c3cda0c778cda4ee72223af37ab39c27588eec3c472207ab7f2305eed8afa

# Put the peers' tiny images into $IMG_STORE with skopeo (ref.name = full name):
# store_tiny 1 [NAME]
store_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" \
		"oci:$IMG_STORE:${2:-docker.io/library/tiny:$1}" >/dev/null
}

blob() { printf '%s/blobs/sha256/%s' "$IMG_STORE" "${1#sha256:}"; }

# Entry names of a tar, in order.
tar_names() { tar -tf "$1"; }

# Store a file as a blob; print its digest.
put_blob() {
	local d
	d=sha256:$(sha256sum "$1" | cut -d' ' -f1)
	cp "$1" "$(blob "$d")"
	printf '%s' "$d"
}

# An index for tiny:1 (linux/amd64) and a variant of tiny:2 whose config says
# linux/arm64, named multi:1 in the store.
store_multi() {
	store_tiny 1
	store_tiny 2
	local c2 m2 cfg man idx
	c2=$(jq -r .config.digest "$(blob "$TINY2_MANIFEST")")
	jq -c '.architecture = "arm64"' "$(blob "$c2")" > cfg.json
	cfg=$(put_blob cfg.json)
	jq -c --arg d "$cfg" --argjson s "$(stat -c %s cfg.json)" \
		'.mediaType = "application/vnd.oci.image.manifest.v1+json" | .config.digest = $d | .config.size = $s' \
		"$(blob "$TINY2_MANIFEST")" > man.json
	man=$(put_blob man.json)
	jq -nc --arg m1 "$TINY1_MANIFEST" --argjson s1 "$(stat -c %s "$(blob "$TINY1_MANIFEST")")" \
		--arg m2 "$man" --argjson s2 "$(stat -c %s man.json)" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		manifests: [
		  {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m1, size: $s1,
		   platform: {architecture: "amd64", os: "linux"}},
		  {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m2, size: $s2,
		   platform: {architecture: "arm64", os: "linux"}}]}' > idx.json
	idx=$(put_blob idx.json)
	jq -c --arg d "$idx" --argjson s "$(stat -c %s idx.json)" \
		'.manifests = [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
		  annotations: {"org.opencontainers.image.ref.name": "docker.io/library/multi:1",
		                "io.containerd.image.name": "docker.io/library/multi:1"}}]' \
		"$IMG_STORE/index.json" > index.new
	mv index.new "$IMG_STORE/index.json"
	ARM_MANIFEST=$man
	ARM_CONFIG=$cfg
	MULTI_INDEX=$idx
}

@test "--help prints usage and options on stdout" {
	run --separate-stderr img-save --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "usage: img-save [-q] [-S DIR] [-o FILE] [--platform P] [--have FILE] [--progress M] IMAGE..." ]
	for o in $(img-save --list-options); do
		[[ "$output" == *"${o%=}"* ]] || fail "--help lacks $o"
	done
	run img-save --version
	[ "$output" = "img-save 0.1.0" ]
}

@test "bad option or no operand: usage on stderr, exit 2" {
	run --separate-stderr img-save --bogus tiny:1
	[ "$status" -eq 2 ]
	[ -z "$output" ]
	[[ "$stderr" == *"usage: img-save "* ]]
	run --separate-stderr img-save
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-save "* ]]
	run --separate-stderr img-save --progress sometimes tiny:1
	[ "$status" -eq 2 ]
}

@test "man page synopsis equals the usage line" {
	local top syn
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	syn=$(sed -n '/^# SYNOPSIS/,/^# DESCRIPTION/p' "$top/man/img-save.1.scd" | grep '^\*img-save' | tr -d '*_\\')
	[ "usage: $syn" = "$(img-save --help | head -n1)" ]
	for o in $(img-save --list-options); do
		grep -q -- "${o%=}" "$top/man/img-save.1.scd" || fail "man page lacks $o"
	done
}

@test "layout: metadata first, names, manifest.json, repositories, modes and times" {
	store_tiny 1
	img-save tiny:1 > out.tar 2> err
	[ ! -s err ]
	tar_names out.tar > names
	diff -u - names <<-EOF
	oci-layout
	index.json
	manifest.json
	repositories
	blobs/
	blobs/sha256/
	blobs/sha256/${TINY1_MANIFEST#sha256:}
	blobs/sha256/${TINY1_CONFIG#sha256:}
	blobs/sha256/${BASE_LAYER#sha256:}
	EOF
	mkdir x && tar -xf out.tar -C x
	[ "$(jq -c . x/oci-layout)" = '{"imageLayoutVersion":"1.0.0"}' ]
	[ "$(jq -r '.manifests | length' x/index.json)" = 1 ]
	[ "$(jq -r '.manifests[0].digest' x/index.json)" = "$TINY1_MANIFEST" ]
	[ "$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' x/index.json)" = docker.io/library/tiny:1 ]
	[ "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' x/index.json)" = docker.io/library/tiny:1 ]
	[ "$(jq -c . x/manifest.json)" = "[{\"Config\":\"blobs/sha256/${TINY1_CONFIG#sha256:}\",\"RepoTags\":[\"tiny:1\"],\"Layers\":[\"blobs/sha256/${BASE_LAYER#sha256:}\"]}]" ]
	diffid=$(jq -r '.rootfs.diff_ids[-1]' "x/blobs/sha256/${TINY1_CONFIG#sha256:}")
	[ "$(jq -c . x/repositories)" = "{\"tiny\":{\"1\":\"${diffid#sha256:}\"}}" ]
	# blobs are the store's bytes
	for d in $TINY1_MANIFEST $TINY1_CONFIG $BASE_LAYER; do
		cmp "x/blobs/sha256/${d#sha256:}" "$(blob "$d")"
	done
	# only directories and regular files, uid/gid 0, fixed modes, SOURCE_DATE_EPOCH
	python3 - out.tar <<-'EOF'
	import sys, tarfile
	for m in tarfile.open(sys.argv[1]):
	    assert m.isdir() or m.isfile(), m.name
	    assert m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "", m.name
	    assert m.mtime == 1700000000, (m.name, m.mtime)
	    assert m.mode == (0o755 if m.isdir() else 0o644), (m.name, oct(m.mode))
	EOF
}

@test "skopeo reads the archive as docker-archive and as oci-archive" {
	need skopeo
	store_tiny 1
	img-save -q tiny:1 > out.tar
	skopeo copy -q docker-archive:out.tar oci:d1:x
	# skopeo re-serializes the config (and re-compresses the layer): same content
	m=$(jq -r '.manifests[0].digest' d1/index.json)
	c=$(jq -r .config.digest "d1/blobs/sha256/${m#sha256:}")
	[ "$(jq -cS . "d1/blobs/sha256/${c#sha256:}")" = "$(jq -cS . "$(blob "$TINY1_CONFIG")")" ]
	skopeo copy -q oci-archive:out.tar:docker.io/library/tiny:1 oci:d2:x
	[ "$(jq -r '.manifests[0].digest' d2/index.json)" = "$TINY1_MANIFEST" ]
	[ "$(skopeo inspect --raw oci-archive:out.tar:docker.io/library/tiny:1 | sha256sum | cut -d' ' -f1)" = "${TINY1_MANIFEST#sha256:}" ]
}

@test "umoci unpacks the image from the extracted archive; the tree matches the source" {
	need umoci
	store_tiny 1
	img-save -q tiny:1 > out.tar
	mkdir lay src
	tar -xf out.tar -C lay
	rootless=
	[ "$(id -u)" -eq 0 ] || rootless=--rootless
	umoci unpack $rootless --image lay:docker.io/library/tiny:1 bundle >/dev/null
	tar -xf "$PEERS/src/tiny-rootfs.tar" -C src
	list() { (cd "$1" && find . -mindepth 1 -printf '%y %m %p -> %l\n' | sort); }
	diff -u <(list src) <(list bundle/rootfs)
	diff -r --no-dereference src bundle/rootfs
}

@test "two images sharing a base: the shared layer once, both names load back" {
	need skopeo
	store_tiny 1
	store_tiny 2
	img-save -q tiny:1 tiny:2 > out.tar
	tar_names out.tar > names
	[ "$(grep -c "${BASE_LAYER#sha256:}" names)" -eq 1 ]
	[ "$(grep -c "${TOP_LAYER#sha256:}" names)" -eq 1 ]
	[ "$(grep -c '^blobs/sha256/.' names)" -eq 6 ]
	[ "$(sort names | uniq -d)" = "" ]
	mkdir x && tar -xf out.tar -C x
	[ "$(jq -r '[.manifests[].annotations["io.containerd.image.name"]] | join(" ")' x/index.json)" = \
	  "docker.io/library/tiny:1 docker.io/library/tiny:2" ]
	[ "$(jq -r '[.[].RepoTags[]] | join(" ")' x/manifest.json)" = "tiny:1 tiny:2" ]
	[ "$(jq -r '.[1].Layers | length' x/manifest.json)" = 2 ]
	[ "$(jq -r '.tiny | keys | join(" ")' x/repositories)" = "1 2" ]
	skopeo copy -q docker-archive:out.tar:tiny:1 oci:d:one
	skopeo copy -q docker-archive:out.tar:tiny:2 oci:d:two
	skopeo copy -q oci-archive:out.tar:docker.io/library/tiny:2 oci:d:three
	[ "$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "three") | .digest' d/index.json)" = "$TINY2_MANIFEST" ]
	# and img-load takes both back, unchanged
	img-load -q -S back out.tar
	[ "$(jq -r '.manifests[] | [.digest, .annotations["io.containerd.image.name"]] | join(" ")' back/index.json | sort)" = \
	  "$(printf '%s docker.io/library/tiny:1\n%s docker.io/library/tiny:2' "$TINY1_MANIFEST" "$TINY2_MANIFEST")" ]
}

@test "an image saved by ID keeps all its names; saving a name twice writes it once" {
	store_tiny 1
	store_tiny 1 docker.io/library/tiny:latest
	img-save -q "${TINY1_MANIFEST:7:12}" > out.tar
	mkdir x && tar -xf out.tar -C x
	[ "$(jq -r '[.manifests[].annotations["io.containerd.image.name"]] | join(" ")' x/index.json)" = \
	  "docker.io/library/tiny:1 docker.io/library/tiny:latest" ]
	[ "$(jq -r '.manifests | map(.digest) | unique | join(" ")' x/index.json)" = "$TINY1_MANIFEST" ]
	[ "$(jq -r 'length' x/manifest.json)" = 1 ]
	[ "$(jq -r '.[0].RepoTags | join(" ")' x/manifest.json)" = "tiny:1 tiny:latest" ]
	img-save -q tiny:1 docker.io/library/tiny:1 > out2.tar
	mkdir y && tar -xf out2.tar -C y
	[ "$(jq -r '.manifests | length' y/index.json)" = 1 ]
	[ "$(jq -r '.[0].RepoTags | join(" ")' y/manifest.json)" = "tiny:1" ]
}

@test "two runs give the same bytes; -o writes the same archive atomically" {
	store_tiny 1
	store_tiny 2
	img-save -q tiny:2 tiny:1 > a.tar
	img-save -q tiny:2 tiny:1 > b.tar
	[ "$(sha256sum < a.tar)" = "$(sha256sum < b.tar)" ]
	run --separate-stderr img-save -q -o c.tar tiny:2 tiny:1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	cmp a.tar c.tar
	assert_no_temp .
	[ -z "$(ls -A | grep '^c\.tar.')" ] || fail "left: $(ls -A)"
	# another SOURCE_DATE_EPOCH changes only the times
	SOURCE_DATE_EPOCH=0 img-save -q tiny:2 tiny:1 > d.tar
	! cmp -s a.tar d.tar
	[ "$(tar -tf a.tar)" = "$(tar -tf d.tar)" ]
}

@test "the first layer blob comes after every json, index.json and manifest.json" {
	store_tiny 1
	store_tiny 2
	img-save -q tiny:1 tiny:2 > out.tar
	mkdir x && tar -xf out.tar -C x
	jq -r '.[].Layers[]' x/manifest.json | sort -u > layers
	[ "$(wc -l < layers)" -eq 2 ]
	tar_names out.tar > names
	first=$(grep -n -x -F -f layers names | head -n1 | cut -d: -f1)
	# every entry that is not a layer comes before the first layer
	last_meta=$(grep -n -v -x -F -f layers names | tail -n1 | cut -d: -f1)
	[ "$last_meta" -lt "$first" ]
	# the entries after are exactly the layers, sorted
	tail -n +"$first" names > after
	sort -c after
	diff -u layers after
	# and the small blobs are JSON documents
	for f in $(sed -n "7,$((first - 1))p" names); do jq -e . "x/$f" >/dev/null; done
}

@test "unknown image: exit 1 naming it, nothing on stdout, no -o file" {
	store_tiny 1
	run --separate-stderr img-save tiny:1 nosuch:9
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == *nosuch:9* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	run --separate-stderr img-save -o out.tar nosuch:9
	[ "$status" -eq 1 ]
	[[ "$stderr" == *nosuch:9* ]]
	[ ! -e out.tar ]
	assert_no_temp .
	[ -z "$(ls -A | grep '^out')" ] || fail "left: $(ls -A)"
}

@test "no store: exit 1" {
	run --separate-stderr img-save -S nowhere tiny:1
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == img-save:* ]]
}

@test "a blob missing from the store: exit 1, nothing written, no -o file" {
	store_tiny 1
	rm "$(blob "$BASE_LAYER")"
	run --separate-stderr img-save tiny:1
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == *"${BASE_LAYER:7:12}"* ]]
	run --separate-stderr img-save -o out.tar tiny:1
	[ "$status" -eq 1 ]
	[ ! -e out.tar ]
	assert_no_temp .
	[ -z "$(ls -A | grep '^out')" ] || fail "left: $(ls -A)"
}

@test "a damaged or truncated blob: exit 1, no -o file" {
	store_tiny 1
	f=$(blob "$BASE_LAYER")
	size=$(stat -c %s "$f")
	# same size, other bytes
	printf 'XXXX' | dd of="$f" bs=1 seek=5000 conv=notrunc status=none
	run --separate-stderr img-save -o out.tar tiny:1
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"digest mismatch"* ]]
	[ ! -e out.tar ]
	assert_no_temp .
	# shorter than its descriptor
	truncate -s $((size - 10)) "$f"
	run --separate-stderr img-save -o out.tar tiny:1
	[ "$status" -eq 1 ]
	[ ! -e out.tar ]
	assert_no_temp .
}

@test "write errors: /dev/full fails, a closed pipe is quiet" {
	store_tiny 1
	run --separate-stderr bash -c 'img-save tiny:1 > /dev/full'
	[ "$status" -eq 1 ]
	[[ "$stderr" == img-save:* ]]
	run --separate-stderr bash -c 'img-save tiny:1 | head -c 100 | wc -c'
	[ "$output" -eq 100 ]
	[ -z "$stderr" ]
	# also when SIGPIPE is ignored and the write gets EPIPE
	run --separate-stderr bash -c 'trap "" PIPE; img-save tiny:1 | head -c 100 > /dev/null; echo "${PIPESTATUS[0]}"'
	[ -z "$stderr" ]
	[ "$output" -ne 0 ]
}

@test "refuses to write an archive to a terminal" {
	command -v script >/dev/null || skip "script(1) not installed"
	store_tiny 1
	run script -qec "img-save tiny:1; echo status=\$?" /dev/null
	[[ "$output" == *"img-save: "*terminal* ]]
	[[ "$output" == *"status=1"* ]]
	[[ "$output" != *oci-layout* ]]
	# a terminal on stderr is fine: progress goes there
	run script -qec "img-save --progress none tiny:1 > out.tar; echo status=\$?" /dev/null
	[[ "$output" == *"status=0"* ]]
	[ "$(tar -tf out.tar | head -n1)" = oci-layout ]
}

@test "progress: plain prints on stderr, -q prints nothing" {
	store_tiny 1
	run --separate-stderr img-save --progress plain tiny:1 > /dev/null
	[ "$status" -eq 0 ]
	[ -n "$stderr" ]
	run --separate-stderr img-save -q --progress plain tiny:1 > /dev/null
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "multi-platform index: whole by default, --platform keeps only the matching manifest" {
	need skopeo
	store_multi
	img-save -q multi:1 > all.tar
	mkdir all && tar -xf all.tar -C all
	[ "$(jq -r '.manifests[0].digest' all/index.json)" = "$MULTI_INDEX" ]
	for d in $MULTI_INDEX $TINY1_MANIFEST $ARM_MANIFEST $ARM_CONFIG $BASE_LAYER $TOP_LAYER; do
		[ -f "all/blobs/sha256/${d#sha256:}" ] || fail "missing $d"
	done
	# manifest.json holds the host's image (amd64 here) or the first
	[ "$(jq -r '.[0].Config' all/manifest.json)" = "blobs/sha256/${TINY1_CONFIG#sha256:}" ]
	[ "$(jq -r '.[0].RepoTags[0]' all/manifest.json)" = multi:1 ]

	img-save -q --platform linux/arm64 multi:1 > arm.tar
	mkdir arm && tar -xf arm.tar -C arm
	[ "$(jq -r '.manifests | length' arm/index.json)" = 1 ]
	[ "$(jq -r '.manifests[0].digest' arm/index.json)" = "$ARM_MANIFEST" ]
	[ "$(jq -r '.manifests[0].mediaType' arm/index.json)" = application/vnd.oci.image.manifest.v1+json ]
	[ "$(jq -r '.manifests[0].platform.architecture' arm/index.json)" = arm64 ]
	[ "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' arm/index.json)" = docker.io/library/multi:1 ]
	ls arm/blobs/sha256 | sort > got
	printf '%s\n' "${ARM_MANIFEST#sha256:}" "${ARM_CONFIG#sha256:}" "${BASE_LAYER#sha256:}" "${TOP_LAYER#sha256:}" | sort > want
	diff -u want got
	[ "$(jq -r '.[0].Config' arm/manifest.json)" = "blobs/sha256/${ARM_CONFIG#sha256:}" ]
	# the narrowed archive references nothing it does not contain
	skopeo copy -q oci-archive:arm.tar:docker.io/library/multi:1 oci:d:arm
	skopeo copy -q docker-archive:arm.tar oci:d:arm2

	img-save -q --platform linux/amd64 multi:1 > amd.tar
	tar_names amd.tar > names
	! grep -q "${TOP_LAYER#sha256:}" names
	! grep -q "${MULTI_INDEX#sha256:}" names
	grep -q "${TINY1_MANIFEST#sha256:}" names

	run --separate-stderr img-save --platform linux/s390x multi:1
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	# a single-platform image for another platform
	run --separate-stderr img-save --platform linux/arm64 tiny:1
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "an image made by img-import saves, and loads back in skopeo and img-load" {
	need skopeo
	import_tiny tiny:1
	m=$(jq -r '.manifests[0].digest' "$IMG_STORE/index.json")
	img-save -q -o out.tar tiny:1
	skopeo copy -q oci-archive:out.tar:docker.io/library/tiny:1 oci:d:x
	[ "$(jq -r '.manifests[0].digest' d/index.json)" = "$m" ]
	skopeo copy -q docker-archive:out.tar:tiny:1 oci:d:y
	img-save -q tiny:1 | img-load -q -S back
	[ "$(jq -r '.manifests[0].digest' back/index.json)" = "$m" ]
	[ "$(jq -r '.manifests[0].annotations["io.containerd.image.name"]' back/index.json)" = docker.io/library/tiny:1 ]
	img-save -q -S back tiny:1 | cmp - out.tar
}

@test "an unnamed image saved by ID: one unnamed descriptor, no repositories" {
	need skopeo
	store_tiny 1
	jq -c 'del(.manifests[0].annotations)' "$IMG_STORE/index.json" > index.new
	mv index.new "$IMG_STORE/index.json"
	img-save -q "${TINY1_CONFIG:7:12}" > out.tar
	[ "$(tar -tf out.tar | head -n4 | tr '\n' ' ')" = "oci-layout index.json manifest.json blobs/ " ]
	mkdir x && tar -xf out.tar -C x
	[ "$(jq -c '.manifests' x/index.json)" = "[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$TINY1_MANIFEST\",\"size\":349}]" ]
	[ "$(jq -c '.[0].RepoTags' x/manifest.json)" = "[]" ]
	skopeo copy -q oci-archive:out.tar oci:d:x
	skopeo copy -q docker-archive:out.tar oci:d:y
}
