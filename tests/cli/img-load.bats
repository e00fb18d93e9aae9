#!/usr/bin/env bats
# img-load: every archive dialect, from files and pipes, verified, names, failures that
# leave the store as it was.
bats_require_minimum_version 1.5.0
load ../lib/helper

# All test archives, made once (python starts slowly).
setup_file() {
	local m args=()
	for m in docker25 legacy multi multi-mj flip badsize missing dotdot abs symlink both dup; do
		args+=("$m=$BATS_FILE_TMPDIR/$m.tar")
	done
	python3 "$FIX/load-mkarchive.py" "$PEERS" "${args[@]}"
	tar -cf "$BATS_FILE_TMPDIR/layout.tar" -C "$PEERS/tiny-oci-layout" .
}
A=$BATS_FILE_TMPDIR
D1=sha256:eeccac13f4af67267c79419df48707b8de063ac0185b22b2b42895e1aeedc9f6
D2=sha256:e0ac5db640803adc070444c35f994c40019c9fe9c73ed3b88ccf91db9bc4e904
M1=sha256:0a2a3122db41ea792d4559dc10729e941cf70e135918e319973882e369b7f293
M2=sha256:8ded9eff6d51b75a32fd1e7ead912fe4ec319961e9378581a02a87acf8aacfaa

# The manifest digest the store's index.json gives NAME (canonical).
digest_of() {
	jq -r --arg n "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n
		and .annotations["io.containerd.image.name"] == $n) | .digest' "$IMG_STORE/index.json"
}

# The config's diff_ids of the image named NAME, read through the store's blobs.
diff_ids_of() {
	local m c
	m=$(digest_of "$1")
	[ -n "$m" ] || return 1
	c=$(jq -r .config.digest "$IMG_STORE/blobs/sha256/${m#sha256:}")
	jq -r '.rootfs.diff_ids | join(" ")' "$IMG_STORE/blobs/sha256/${c#sha256:}"
}

# Every blob in the store hashes to its name.
check_blobs() {
	(cd "$IMG_STORE/blobs/sha256" && sha256sum -- * | awk '$1 != $2 { print "bad blob " $2; e = 1 } END { exit e }')
}

# What the tiny:1 / tiny:2 names must look like after loading an archive that has them.
check_tiny() {
	local want=$1
	if [[ $want == *1* ]]; then
		[ "$(diff_ids_of docker.io/library/tiny:1)" = "$D1" ] || fail "tiny:1 diff_ids"
	fi
	if [[ $want == *2* ]]; then
		[ "$(diff_ids_of docker.io/library/tiny:2)" = "$D1 $D2" ] || fail "tiny:2 diff_ids"
	fi
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq "${#want}" ] ||
		fail "index.json: $(cat "$IMG_STORE/index.json")"
	check_blobs
	assert_no_temp "$IMG_STORE"
}

# index.json and the blob listing, to compare a store before and after.
snapshot() {
	cat "$IMG_STORE/index.json"
	ls -la "$IMG_STORE/blobs/sha256" | awk '{ print $5, $NF }'
	ls -A "$IMG_STORE/.img/tmp" 2>/dev/null
}

# A store holding tiny:2, then ARCHIVE must fail with MESSAGE and change nothing.
expect_refused() {
	local archive=$1 msg=$2
	img-load -q "$PEERS/tiny2-oci.tar" >/dev/null
	snapshot > before
	run -1 --separate-stderr img-load -q "$archive"
	[[ $stderr == *"$msg"* ]] || fail "stderr: $stderr (wanted: $msg)"
	[ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "not one line: $stderr"
	[ -z "$output" ] || fail "stdout: $output"
	snapshot > after
	diff before after || fail "store changed"
	assert_no_temp "$IMG_STORE"
}

names_of() {
	case $1 in
	tiny1-*) echo 1 ;;
	tiny2-*) echo 2 ;;
	*) echo 12 ;;
	esac
}

@test "--help, --version, a bad option" {
	run -0 --separate-stderr img-load --help
	[[ ${lines[0]} == "usage: img-load "* ]]
	[ -z "$stderr" ]
	run -2 --separate-stderr img-load --no-such
	[[ $stderr == *"usage: img-load"* ]]
	run -2 --separate-stderr img-load --max-ratio x f
	run -2 --separate-stderr img-load --platform 'a/b/c/d/e' f
	run -2 --separate-stderr img-load -t x:1 a b
}

@test "a missing file fails with one line, the store untouched" {
	run -1 --separate-stderr img-load nosuch.tar
	[[ $stderr == *"nosuch.tar"* ]]
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	[ ! -e "$IMG_STORE/index.json" ] || [ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
}

@test "every peer archive loads from a file, a pipe, '-', .gz and .zst" {
	need skopeo
	for f in "$PEERS"/*.tar "$A/layout.tar"; do
		n=$(names_of "$(basename "$f")")
		want=""
		[[ $n == *1* ]] && want+="Loaded image: tiny:1"$'\n'
		[[ $n == *2* ]] && want+="Loaded image: tiny:2"$'\n'
		rm -rf "$IMG_STORE"
		run -0 --separate-stderr img-load -q "$f"
		[ "$output" = "${want%$'\n'}" ] || fail "$f: output '$output'"
		check_tiny "$n" || fail "$f"
		# peers read what was loaded
		if [[ $n == *1* ]]; then
			skopeo inspect --config oci:"$IMG_STORE":docker.io/library/tiny:1 |
				jq -e --arg d "$D1" '.rootfs.diff_ids == [$d]' >/dev/null || fail "skopeo: $f"
		else
			skopeo inspect --config oci:"$IMG_STORE":docker.io/library/tiny:2 |
				jq -e --arg a "$D1" --arg b "$D2" '.rootfs.diff_ids == [$a, $b]' >/dev/null ||
				fail "skopeo: $f"
		fi
		# the other ways in give the very same store
		cp "$IMG_STORE/index.json" want.json
		ls "$IMG_STORE/blobs/sha256" > want.ls
		gzip -c "$f" > x.tar.gz
		zstd -q -c "$f" > x.tar.zst
		for how in pipe dash gz zst; do
			rm -rf "$IMG_STORE"
			case $how in
			pipe) run -0 --separate-stderr sh -c "cat '$f' | img-load -q" ;;
			dash) run -0 --separate-stderr img-load -q - < "$f" ;;
			gz) run -0 --separate-stderr sh -c "cat x.tar.gz | img-load -q" ;;
			zst) run -0 --separate-stderr img-load -q x.tar.zst ;;
			esac
			[ "$output" = "${want%$'\n'}" ] || fail "$f ($how): output '$output'"
			cmp want.json "$IMG_STORE/index.json" || fail "$f ($how): index.json differs"
			ls "$IMG_STORE/blobs/sha256" | cmp want.ls - || fail "$f ($how): blobs differ"
			[ -z "$(ls -A "$IMG_STORE/.img/tmp")" ] || fail "$f ($how): temp files left"
		done
	done
}

@test "tiny-oci-layout keeps its manifest digests; loading twice changes nothing" {
	need umoci
	run -0 img-load -q "$A/layout.tar"
	[ "$(digest_of docker.io/library/tiny:1)" = "$M1" ]
	[ "$(digest_of docker.io/library/tiny:2)" = "$M2" ]
	cp "$IMG_STORE/index.json" first
	run -0 img-load -q "$A/layout.tar"
	cmp first "$IMG_STORE/index.json"
	umoci ls --layout "$IMG_STORE" | grep -qx docker.io/library/tiny:2
}

@test "a legacy docker archive gets the same manifest every time" {
	img-load -q "$PEERS/tiny2-docker.tar"
	m=$(digest_of docker.io/library/tiny:2)
	jq -e '.mediaType == "application/vnd.oci.image.manifest.v1+json" and
		.config.mediaType == "application/vnd.oci.image.config.v1+json" and
		([.layers[].mediaType] | unique) == ["application/vnd.oci.image.layer.v1.tar"]' \
		"$IMG_STORE/blobs/sha256/${m#sha256:}"
	IMG_STORE=$BATS_TEST_TMPDIR/other img-load -q "$PEERS/tiny12-multi-docker.tar"
	[ "$(IMG_STORE=$BATS_TEST_TMPDIR/other digest_of docker.io/library/tiny:2)" = "$m" ]
	# podman's docker-archive holds the same config: same manifest
	[ "$(jq -r .config.digest "$IMG_STORE/blobs/sha256/${m#sha256:}")" = \
	  sha256:7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804 ]
}

@test "a Docker 25+ archive: names from index.json, an untagged image from manifest.json" {
	run -0 --separate-stderr img-load -q "$A/docker25.tar"
	[ "${lines[0]}" = "Loaded image: tiny:1" ]
	[ "${lines[1]}" = "Loaded image: tiny:2" ]
	[[ ${lines[2]} == "Loaded image ID: sha256:"* ]]
	want1=$(tar -xOf "$A/docker25.tar" index.json | jq -r '.manifests[0].digest')
	[ "$(digest_of docker.io/library/tiny:1)" = "$want1" ]
	check_tiny 12x
	cfg=${lines[2]#Loaded image ID: }
	# the unnamed entry: its manifest has that config and uncompressed layers = diff_ids
	m=$(jq -r '.manifests[] | select(.annotations == null) | .digest' "$IMG_STORE/index.json")
	jq -e --arg c "$cfg" --arg a "$D1" --arg b "$D2" \
		'.config.digest == $c and [.layers[].digest] == [$a, $b]' "$IMG_STORE/blobs/sha256/${m#sha256:}"
	# 2 layers, 3 configs, 3 manifests: the unreferenced legacy v1 JSON blobs are not stored
	[ "$(ls "$IMG_STORE/blobs/sha256" | wc -l)" -eq 8 ]
}

@test "a legacy archive with <v1id>/layer.tar directories loads" {
	tar -tvf "$A/legacy.tar" | grep -q '^-.*/layer.tar$'
	run -0 img-load "$A/legacy.tar"
	[ "$output" = "Loaded image: tiny:2" ]
	check_tiny 2
}

@test "--check verifies and writes nothing, even without a store" {
	run -0 --separate-stderr img-load --check -S "$BATS_TEST_TMPDIR/nostore" "$PEERS/tiny12-multi-docker.tar"
	[ "$output" = $'Verified image: tiny:1\nVerified image: tiny:2' ]
	[ ! -e "$BATS_TEST_TMPDIR/nostore" ]
	run -1 --separate-stderr img-load --check "$A/flip.tar"
	[[ $stderr == *"digest mismatch"* ]]
	[ ! -e "$IMG_STORE" ]
}

@test "-t names the image; a name moves, the old image stays unnamed" {
	img-load -q "$PEERS/tiny1-oci.tar"
	run -0 img-load -t tiny:1 "$PEERS/tiny2-oci.tar"
	[ "$output" = "Loaded image: tiny:1" ]
	[ "$(digest_of docker.io/library/tiny:1)" = "$M2" ]
	[ -z "$(digest_of docker.io/library/tiny:2)" ]
	jq -e --arg m "$M1" '[.manifests[] | select(.digest == $m and .annotations == null)] | length == 1' \
		"$IMG_STORE/index.json"
	run -1 --separate-stderr img-load -t x:1 "$PEERS/tiny12-multi-docker.tar"
	[[ $stderr == *"one image"* ]]
}

@test "--platform loads one manifest of a two-platform index, with no dangling reference" {
	need skopeo
	run -0 img-load --platform linux/arm64 "$A/multi.tar"
	[ "$output" = "Loaded image: multi:1" ]
	[ "$(digest_of docker.io/library/multi:1)" = "$M2" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 1 ]
	[ "$(ls "$IMG_STORE/blobs/sha256" | wc -l)" -eq 4 ]   # manifest, config, 2 layers
	skopeo inspect --config oci:"$IMG_STORE":docker.io/library/multi:1 | jq -e '.architecture'
	rm -rf "$IMG_STORE"
	run -0 img-load --json "$A/multi.tar"
	jq -e '.images[0].mediaType == "application/vnd.oci.image.index.v1+json" and
		.images[0].names == ["docker.io/library/multi:1"]' <<<"$output"
	[ "$(ls "$IMG_STORE/blobs/sha256" | wc -l)" -eq 7 ]
	run -1 --separate-stderr img-load --platform linux/s390x "$A/multi.tar"
	[[ $stderr == *"no image for platform linux/s390x"* ]]
}

@test "manifest.json naming another platform's config of an index.json image names that index" {
	run -0 --separate-stderr img-load --json "$A/multi-mj.tar"
	jq -e '.images | length == 1 and
		.[0].mediaType == "application/vnd.oci.image.index.v1+json" and
		.[0].names == ["docker.io/library/multi:1", "docker.io/library/multi:arm"]' <<<"$output"
	local idx
	idx=$(digest_of docker.io/library/multi:1)
	[ "$(digest_of docker.io/library/multi:arm)" = "$idx" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 2 ]
	# img-ls --archive, which only looks, finds the same one image with both names
	run -0 --separate-stderr img-ls --archive "$A/multi-mj.tar" --json
	jq -e --arg d "$idx" 'length == 1 and .[0].digest == $d and
		(.[0].names | sort) == ["docker.io/library/multi:1", "docker.io/library/multi:arm"]' <<<"$output"
}

@test "--json describes every image" {
	run -0 --separate-stderr img-load --json "$PEERS/tiny12-multi-docker.tar"
	jq -e --arg a "$D1" --arg b "$D2" '.images | length == 2 and
		.[0].names == ["docker.io/library/tiny:1"] and
		.[1].config == "sha256:7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804" and
		[.[1].layers[].diff_id] == [$a, $b]' <<<"$output"
}

@test "bad archives: exit 1, one clear line, the store unchanged" {
	expect_refused "$A/flip.tar" "blobs/sha256/2d0d77dbd6ed0a292c7048a6e0b228f6ead8f17ba05cd9df4cbcad302908cb9a: digest mismatch (got sha256:"
	expect_refused "$A/badsize.tar" "size 1084739, but the descriptor says 1084740"
	expect_refused "$A/missing.tar" "blobs/sha256/2d0d77dbd6ed0a292c7048a6e0b228f6ead8f17ba05cd9df4cbcad302908cb9a: missing"
	expect_refused "$A/dotdot.tar" "'../x'"
	expect_refused "$A/abs.tar" "'/x'"
	expect_refused "$A/symlink.tar" "blobs/sha256/291532133922ff779c311f42482c9ac76ce61076beadbb66d1e682bf97fc9846: is a symbolic link"
	expect_refused "$A/both.tar" "both 'manifests' and"
	expect_refused "$A/dup.tar" "duplicate entry"
}

@test "bad archives: a flipped layer byte in a docker archive, a truncated stream" {
	cp "$PEERS/tiny2-docker.tar" flip.tar
	chmod u+w flip.tar
	# a byte inside the second layer's file data (GNU tar header + 512)
	off=$(( $(tar -tvf flip.tar --block-number | awk '/e0ac5db6.*\.tar$/ { sub(/block /, ""); print $1 + 0; exit }') * 512 + 512 + 100 ))
	printf 'X' | dd of=flip.tar bs=1 seek=$off conv=notrunc status=none
	expect_refused flip.tar "e0ac5db640803adc070444c35f994c40019c9fe9c73ed3b88ccf91db9bc4e904.tar: diff_id mismatch"
	head -c 600000 "$PEERS/tiny1-oci.tar" > trunc.tar
	expect_refused trunc.tar "truncated"
	gzip -c "$PEERS/tiny1-oci.tar" | head -c 300000 > trunc.tar.gz
	rm -rf "$IMG_STORE"
	run -1 --separate-stderr sh -c 'cat trunc.tar.gz | img-load -q'
	[[ $stderr == *"truncated"* ]] || [[ $stderr == *"gzip"* ]]
	assert_no_temp "$IMG_STORE"
}

@test "a 100 MB manifest.json is refused at once, from a pipe" {
	python3 -c '
import sys, tarfile
class Z:
    def __init__(self, n): self.n = n
    def read(self, k=-1):
        k = self.n if k < 0 else min(k, self.n); self.n -= k; return b" " * k
ti = tarfile.TarInfo("manifest.json"); ti.size = 100 << 20
t = tarfile.open(fileobj=sys.stdout.buffer, mode="w|"); t.addfile(ti, Z(ti.size)); t.close()
' > big.tar
	expect_refused big.tar "manifest.json: larger than 16777216 bytes"
}

@test "several archives load in turn; a bad one does not stop the others" {
	run -1 --separate-stderr img-load -q "$PEERS/tiny1-oci.tar" "$A/missing.tar" "$PEERS/tiny2-docker.tar"
	[ "$output" = $'Loaded image: tiny:1\nLoaded image: tiny:2' ]
	[[ $stderr == "img-load: $A/missing.tar: "* ]]
	check_tiny 12
}

@test "a full stdout fails" {
	run -1 --separate-stderr sh -c "img-load -q '$PEERS/tiny1-oci.tar' > /dev/full"
}

@test "round trip: img-import, img-save, img-load into an empty store: same manifest digest" {
	command -v img-import >/dev/null && command -v img-save >/dev/null || skip "img-import/img-save not built"
	img-import -q "$PEERS/src/tiny-rootfs.tar" rt:1 >/dev/null
	m=$(digest_of docker.io/library/rt:1)
	[ -n "$m" ]
	img-save rt:1 > rt.tar
	IMG_STORE=$BATS_TEST_TMPDIR/empty run -0 img-load rt.tar
	[ "$output" = "Loaded image: rt:1" ]
	[ "$(IMG_STORE=$BATS_TEST_TMPDIR/empty digest_of docker.io/library/rt:1)" = "$m" ]
	cat rt.tar | IMG_STORE=$BATS_TEST_TMPDIR/piped img-load -q
	[ "$(IMG_STORE=$BATS_TEST_TMPDIR/piped digest_of docker.io/library/rt:1)" = "$m" ]
}
