#!/usr/bin/env bats
# img-tag: names given by name or ID, names that move, targets refused.
bats_require_minimum_version 1.5.0
load ../lib/helper

copy_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" "oci:$IMG_STORE:$2"
}

# Entries of index.json as "digest name" lines (name "-" when unnamed).
entries() {
	jq -r '.manifests[] | .digest + " " + (.annotations["org.opencontainers.image.ref.name"] // "-")' \
		"$IMG_STORE/index.json"
}

mdigest() {
	jq -r --arg n "$1" '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest] | first // empty' \
		"$IMG_STORE/index.json"
}

setup_two() {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m1=$(mdigest docker.io/library/tiny:1)
	m2=$(mdigest docker.io/library/tiny:2)
}

@test "usage: --help, a bad option, wrong operand counts" {
	run -0 --separate-stderr img-tag --help
	[ "${lines[0]}" = "usage: img-tag [-S DIR] SOURCE TARGET" ]
	[[ "$output" == *--store* ]]
	run -2 --separate-stderr img-tag a
	[[ "$stderr" == "usage: img-tag "* ]]
	run -2 --separate-stderr img-tag a b c
	run -2 --separate-stderr img-tag --bogus a b
	[ -z "$output" ]
	run -0 img-tag --version
	[ "$output" = "img-tag 0.1.0" ]
}

@test "a missing store is an error" {
	run -1 --separate-stderr img-tag -S "$BATS_TEST_TMPDIR/nowhere" a b
	[[ "$stderr" == "img-tag: no image store at $BATS_TEST_TMPDIR/nowhere"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "a new name for an image, written in full, readable by skopeo" {
	need skopeo
	setup_two
	run -0 --separate-stderr img-tag tiny:1 registry.example.com:5000/team/app:v1
	[ -z "$output" ] && [ -z "$stderr" ]
	run -0 jq -c --arg d "$m1" '.manifests[] | select(.annotations["io.containerd.image.name"] == "registry.example.com:5000/team/app:v1")' \
		"$IMG_STORE/index.json"
	[ "$(jq -r .digest <<<"$output")" = "$m1" ]
	[ "$(jq -r '.annotations["org.opencontainers.image.ref.name"]' <<<"$output")" = registry.example.com:5000/team/app:v1 ]
	[ "$(jq -r .mediaType <<<"$output")" = application/vnd.oci.image.manifest.v1+json ]
	[ "$(jq -r .size <<<"$output")" = "$(stat -c %s "$IMG_STORE/blobs/sha256/${m1#sha256:}")" ]
	run -0 skopeo inspect "oci:$IMG_STORE:registry.example.com:5000/team/app:v1"
	[ "$(jq -r .Digest <<<"$output")" = "$m1" ]
	# The source keeps its name, and nothing else changed.
	[ "$(mdigest docker.io/library/tiny:1)" = "$m1" ]
	[ "$(mdigest docker.io/library/tiny:2)" = "$m2" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 3 ]
}

@test "short names are normalized as docker does" {
	setup_two
	run -0 img-tag tiny:2 app
	[ "$(mdigest docker.io/library/app:latest)" = "$m2" ]
	run -0 img-tag tiny:2 me/app:2
	[ "$(mdigest docker.io/me/app:2)" = "$m2" ]
	run -0 img-ls -q app
	[ -n "$output" ]
}

@test "by ID: a config or manifest digest prefix, or a full digest" {
	setup_two
	cfg=$(jq -r .config.digest "$IMG_STORE/blobs/sha256/${m2#sha256:}")
	run -0 img-tag "${cfg:7:12}" byconfig:1
	[ "$(mdigest docker.io/library/byconfig:1)" = "$m2" ]
	run -0 img-tag "${m1:7:12}" bymanifest:1
	[ "$(mdigest docker.io/library/bymanifest:1)" = "$m1" ]
	run -0 img-tag "$m1" bydigest:1
	[ "$(mdigest docker.io/library/bydigest:1)" = "$m1" ]
	run -0 img-tag "tiny@$m2" byref:1
	[ "$(mdigest docker.io/library/byref:1)" = "$m2" ]
}

@test "a name in use moves; the image it named stays, unnamed" {
	setup_two
	run -0 img-tag tiny:1 app:latest
	run -0 img-tag tiny:2 app:latest
	[ "$(mdigest docker.io/library/app:latest)" = "$m2" ]
	[ "$(mdigest docker.io/library/tiny:1)" = "$m1" ]
	[ "$(entries | grep -c " docker.io/library/app:latest$")" -eq 1 ]
	# Moving the only name of an image leaves it in the store without a name.
	run -0 img-tag tiny:1 tiny:2
	[ "$(entries | sort)" = "$(printf '%s\n' "$m1 docker.io/library/tiny:1" "$m1 docker.io/library/tiny:2" \
		"$m2 docker.io/library/app:latest" | sort)" ]
	run -0 img-tag tiny:1 app:latest
	[ "$(entries | grep "^$m2 ")" = "$m2 -" ]
	run -0 img-gc -n
	[ "$output" = "Total reclaimed space: 0B" ]     # a dangling image is still a root
	run -0 img-gc --check
	run -0 img-gc --dangling
	[ "$(grep -c '^Deleted: ' <<<"$output")" -eq 3 ]
	[ "$(entries | grep -c "^$m2 ")" -eq 0 ]
}

@test "tagging with the name it already has changes nothing visible" {
	setup_two
	run -0 img-tag tiny:1 tiny:1
	[ "$(entries | sort)" = "$(printf '%s\n' "$m1 docker.io/library/tiny:1" "$m2 docker.io/library/tiny:2" | sort)" ]
}

@test "refused: a digest target, an invalid target, an unknown source" {
	setup_two
	cp "$IMG_STORE/index.json" index.before
	run -1 --separate-stderr img-tag tiny:1 "app@$m1"
	[[ "$stderr" == "img-tag: "*"digest"* ]]
	run -1 --separate-stderr img-tag tiny:1 'app/UPPER:1'
	[[ "$stderr" == "img-tag: invalid target 'app/UPPER:1': "* ]]
	run -1 --separate-stderr img-tag tiny:1 "${m1#sha256:}"
	[[ "$stderr" == "img-tag: invalid target"* ]]
	run -1 --separate-stderr img-tag nosuch:1 app:1
	[ "$stderr" = "img-tag: no such image: nosuch:1" ]
	run -1 --separate-stderr img-tag 0000000000ab app:1
	[[ "$stderr" == "img-tag: "*"0000000000ab"* ]]
	cmp index.before "$IMG_STORE/index.json"
}

@test "waits for the index lock, says so once" {
	setup_two
	mkdir -p "$IMG_STORE/.img"
	flock -x "$IMG_STORE/.img/lock" sleep 2 &
	sleep 0.3
	run -0 --separate-stderr img-tag tiny:1 later:1
	[ "$stderr" = "img-tag: waiting for the store lock" ]
	[ "$(mdigest docker.io/library/later:1)" = "$m1" ]
	wait
}
