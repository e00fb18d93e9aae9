#!/usr/bin/env bats
# Archives shaped as docker 25, jib, containerd, buildkit and skopeo wrote them
# (tests/fixtures/real-mkarchive.py), and the rules every program follows for the same bytes
# (img(7), ARCHIVE RULES): img-load, img-load --check, img-layers --archive and img-diff
# give the same answer.
bats_require_minimum_version 1.5.0
load ../lib/helper

setup_file() {
	local m args=()
	for m in docker25-untagged jib ctr-partial artifacts baretag both-platforms history notag \
		latelink fifo helm; do
		args+=("$m=$BATS_FILE_TMPDIR/$m.tar")
	done
	python3 "$FIX/real-mkarchive.py" "$PEERS" "${args[@]}"
}
A=$BATS_FILE_TMPDIR
M1=sha256:0a2a3122db41ea792d4559dc10729e941cf70e135918e319973882e369b7f293
M2=sha256:8ded9eff6d51b75a32fd1e7ead912fe4ec319961e9378581a02a87acf8aacfaa
C1=sha256:291532133922ff779c311f42482c9ac76ce61076beadbb66d1e682bf97fc9846
C2=sha256:7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804
D1=sha256:eeccac13f4af67267c79419df48707b8de063ac0185b22b2b42895e1aeedc9f6
D2=sha256:e0ac5db640803adc070444c35f994c40019c9fe9c73ed3b88ccf91db9bc4e904

# The manifest digest index.json gives NAME (canonical).
digest_of() {
	jq -r --arg n "$1" '.manifests[] | select(.annotations["io.containerd.image.name"] == $n)
		| .digest' "$IMG_STORE/index.json"
}

# The diff_ids img-layers --json reports for an archive operand.
layers_of() { img-layers --json --archive "$@" | jq -r '.layers[].diff_id'; }

@test "docker 25, untagged: index.json \"manifests\": null, loaded from manifest.json" {
	run -0 --separate-stderr img-load < "$A/docker25-untagged.tar"
	[ "$output" = "Loaded image ID: $C2" ] || fail "$output"
	run -0 img-gc --check
	[ "$(layers_of "$A/docker25-untagged.tar")" = "$D1
$D2" ] || fail "img-layers differs"
	run -0 img-load --check < "$A/docker25-untagged.tar"
	[ "$output" = "Verified image ID: $C2" ] || fail "$output"
	# the same image as the skopeo-written tiny:2 (other blobs, same files): img-diff says so
	run -0 img-diff --ignore-mtime "archive:$A/docker25-untagged.tar" "archive:$PEERS/tiny2-oci.tar"
}

@test "jib before 2.3: manifest.json keys in lowercase" {
	run -0 --separate-stderr img-load < "$A/jib.tar"
	[ "$output" = "Loaded image: jib/app:1" ] || fail "$output"
	[ "$(jq -r .config.digest "$IMG_STORE/blobs/sha256/$(digest_of docker.io/jib/app:1 | cut -d: -f2)")" = "$C1" ]
	[ "$(layers_of "$A/jib.tar")" = "$D1" ]
	run -0 img-diff "archive:$A/jib.tar" jib/app:1
	[ -z "$output" ] || fail "$output"
}

@test "containerd export of one platform: the complete host platform loads, the others are named" {
	[ "$(uname -m)" = x86_64 ] || skip "the fixture's complete platform is linux/amd64"
	run -0 --separate-stderr img-load < "$A/ctr-partial.tar"
	[ "$output" = "Loaded image: tiny:multi" ] || fail "$output"
	[ "$stderr" = "img-load: docker.io/library/tiny:multi: loading linux/amd64 only; left out, not in the archive: linux/arm64, linux/arm/v7" ] ||
		fail "stderr: $stderr"
	# the name goes to the amd64 manifest; nothing dangles, the store is whole
	[ "$(digest_of docker.io/library/tiny:multi)" = "$M1" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" = 1 ]
	run -0 img-gc --check
	run -0 img-gc -n --json
	[ "$(jq '.blobs | length' <<<"$output")" = 0 ] || fail "$output"
	# img-layers and img-diff pick the same manifest
	[ "$(layers_of "$A/ctr-partial.tar")" = "$D1" ]
	run -0 img-diff "archive:$A/ctr-partial.tar" tiny:multi
	# with --platform, as before: the platform asked for, or a clear refusal
	export IMG_STORE=$BATS_TEST_TMPDIR/s2
	run -1 --separate-stderr img-load --platform linux/arm64 < "$A/ctr-partial.tar"
	[[ "$stderr" == *"missing from the archive"* ]] || fail "stderr: $stderr"
	run -0 img-load --platform linux/amd64 < "$A/ctr-partial.tar"
	[ "$(digest_of docker.io/library/tiny:multi)" = "$M1" ]
}

@test "artifacts and attestations beside images: kept, never 'the image'" {
	run -0 --separate-stderr img-load < "$A/artifacts.tar"
	grep -qx 'Loaded image: tiny:att' <<<"$output" || fail "$output"
	grep -qx 'Loaded image: tiny:2' <<<"$output" || fail "$output"
	grep -qx 'Loaded artifact: sha256:[0-9a-f]\{64\}' <<<"$output" || fail "$output"
	[ -z "$stderr" ] || fail "stderr: $stderr"
	run -0 img-gc --check
	# the artifact and the attestation are kept (blobs, index entry) but not listed
	[ "$(jq '[.manifests[] | select(.artifactType == "application/spdx+json")] | length' \
		"$IMG_STORE/index.json")" = 1 ]
	run -0 img-ls -a -q
	[ "$(wc -l <<<"$output")" = 2 ] || fail "$output"
	# the image of tiny:att for the host is tiny:1's manifest, not the attestation
	run -0 img-layers --json tiny:att
	[ "$(jq -r '.layers[].diff_id' <<<"$output")" = "$D1" ]
	# the archive holds two images, not three
	run -1 --separate-stderr img-layers --archive "$A/artifacts.tar"
	[[ "$stderr" == *"holds 2 images"* ]] || fail "stderr: $stderr"
	[ "$(layers_of "$A/artifacts.tar#tiny:att")" = "$D1" ]
	[ "$(layers_of "$A/artifacts.tar#att")" = "$D1" ]
	[ "$(layers_of "$A/artifacts.tar#2")" = "$D1
$D2" ]
	run -0 img-load --check --platform linux/amd64 < "$A/artifacts.tar"
}

@test "a Helm chart (an artifact without artifactType): loaded and kept, never listed as an image" {
	run -0 --separate-stderr img-load "$A/helm.tar"
	[ "${lines[*]}" = "Loaded image: chart:1 Loaded image: tiny:1" ] || fail "$output"
	run -0 img-gc --check
	# img-ls lists tiny:1 alone and succeeds; so does img-ls --archive
	run -0 --separate-stderr img-ls --json
	jq -e 'length == 1 and .[0].repository == "tiny"' <<<"$output" || fail "$output"
	[ -z "$stderr" ] || fail "$stderr"
	run -0 --separate-stderr img-ls -a -q
	[ "${#lines[@]}" -eq 1 ] || fail "$output"
	run -0 --separate-stderr img-ls --archive "$A/helm.tar" --json
	jq -e 'length == 1 and .[0].names == ["docker.io/library/tiny:1"]' <<<"$output" || fail "$output"
	# the chart is still there, by name: img-save writes it, img-rm removes it
	run -0 img-save chart:1 -o "$BATS_TEST_TMPDIR/chart.tar"
	run -0 img-rm chart:1
	run -0 img-gc --check
}

@test "a bare tag in ref.name: unnamed with a hint, --base-name REPO names it; FILE#TAG selects" {
	run -0 --separate-stderr img-load < "$A/baretag.tar"
	[ "$output" = "Loaded image ID: $C1 (tagged 'v1' in the archive: --base-name REPO names it REPO:v1)
Loaded image ID: $C2 (tagged 'v2' in the archive: --base-name REPO names it REPO:v2)" ] || fail "$output"
	run -0 img-load --base-name example/app < "$A/baretag.tar"
	[ "$output" = "Loaded image: example/app:v1
Loaded image: example/app:v2" ] || fail "$output"
	[ "$(digest_of docker.io/example/app:v1)" = "$M1" ]
	[ "$(digest_of docker.io/example/app:v2)" = "$M2" ]
	run -2 img-load --base-name 'example/app:v1' < "$A/baretag.tar"
	run -2 img-load --base-name 'Bad Name' < "$A/baretag.tar"
	# img-layers and img-diff select by the bare tag or a digest, one syntax
	[ "$(layers_of "$A/baretag.tar#v1")" = "$D1" ]
	[ "$(layers_of "$A/baretag.tar#$M2")" = "$D1
$D2" ]
	[ "$(layers_of "$A/baretag.tar#${C2:7:12}")" = "$D1
$D2" ]
	run -0 img-layers --archive "$A/baretag.tar" --image v2
	run -1 img-diff --ignore-mtime "archive:$A/baretag.tar#v1" "archive:$A/baretag.tar#v2"
	grep -qx 'D usr/share/tiny/b.txt' <<<"$output" || fail "$output"
	run -0 img-diff "archive:$A/baretag.tar#v2" example/app:v2
	run -1 --separate-stderr img-layers --archive "$A/baretag.tar#v3"
	[ "$stderr" = "img-layers: $A/baretag.tar: no image v3 in the archive" ] || fail "$stderr"
	run -1 --separate-stderr img-layers --archive "$A/baretag.tar"
	[[ "$stderr" == *"holds 2 images: name one (FILE#NAME, FILE#TAG or FILE#DIGEST)" ]] || fail "$stderr"
}

@test "index.json and manifest.json with --platform: the index's choice gets the name, once" {
	run -0 --separate-stderr img-load --platform linux/arm64 < "$A/both-platforms.tar"
	[ "$output" = "Loaded image: tiny:multi" ] || fail "$output"
	[ "$(digest_of docker.io/library/tiny:multi)" = "$M2" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" = 1 ]
	run -0 img-gc --check
	[ "$(layers_of "$A/both-platforms.tar" --platform linux/arm64)" = "$D1
$D2" ]
	run -0 img-diff --platform linux/arm64 "archive:$A/both-platforms.tar" tiny:multi
	# without --platform: the whole index, named once
	export IMG_STORE=$BATS_TEST_TMPDIR/s2
	run -0 img-load < "$A/both-platforms.tar"
	[ "$output" = "Loaded image: tiny:multi" ] || fail "$output"
	[ "$(jq -r '.manifests[0].mediaType' "$IMG_STORE/index.json")" = application/vnd.oci.image.index.v1+json ]
}

@test "a history with more non-empty entries than layers: one warning, the rows still shown" {
	run -0 --separate-stderr img-layers --archive "$A/history.tar"
	[ "$stderr" = "img-layers: the config's history has 2 more non-empty entries than the image has layers (1): they are shown without a layer" ] ||
		fail "stderr: $stderr"
	[ "$(grep -c 'RUN one\|RUN two\|ADD rootfs' <<<"$output")" = 3 ] || fail "$output"
	img-load -q < "$A/history.tar"
	run -0 --separate-stderr img-layers tiny:hist
	[[ "$stderr" == *"2 more non-empty entries"* ]] || fail "stderr: $stderr"
}

@test "rule: a name with no tag is name:latest, in manifest.json and in index.json" {
	run -0 img-load --check < "$A/notag.tar"
	[ "$output" = "Verified image: example/app:latest" ] || fail "$output"
	[ "$(layers_of "$A/notag.tar#example/app")" = "$D1" ]
	[ "$(layers_of "$A/notag.tar#example/app:latest")" = "$D1" ]
	run -0 img-load < "$A/notag.tar"
	run -0 img-diff "archive:$A/notag.tar#example/app" example/app
}

@test "rule: a hard link names an earlier entry; one to a later entry is refused by all" {
	run -1 --separate-stderr img-load --check < "$A/latelink.tar"
	[[ "$stderr" == *"target 'copy/layer' comes later in the archive" ]] || fail "load: $stderr"
	run -1 --separate-stderr img-layers --archive "$A/latelink.tar"
	[[ "$stderr" == *"target 'copy/layer' comes later in the archive" ]] || fail "layers: $stderr"
	run -2 --separate-stderr img-diff "archive:$A/latelink.tar" "archive:$PEERS/tiny1-oci.tar"
	[[ "$stderr" == *"target 'copy/layer' comes later in the archive" ]] || fail "diff: $stderr"
}

@test "rule: an archive holds directories, files and links; a FIFO is refused by all" {
	run -1 --separate-stderr img-load --check < "$A/fifo.tar"
	[ "$stderr" = "img-load: fifo: not a regular file, directory or link" ] || fail "load: $stderr"
	run -1 --separate-stderr img-layers --archive "$A/fifo.tar"
	[ "$stderr" = "img-layers: $A/fifo.tar: fifo: not a regular file, directory or link" ] ||
		fail "layers: $stderr"
	run -2 --separate-stderr img-diff "archive:$A/fifo.tar" "archive:$PEERS/tiny1-oci.tar"
	[[ "$stderr" == *"fifo: not a regular file, directory or link" ]] || fail "diff: $stderr"
}

@test "rule: the platform picked from an index is the same in load, layers and diff" {
	run -0 img-load --platform linux/arm64 < "$A/both-platforms.tar"
	run -0 img-load --check --json --platform linux/arm64 < "$A/both-platforms.tar"
	[ "$(jq -r '.images[0].manifest' <<<"$output")" = "$M2" ] || fail "$output"
	[ "$(layers_of "$A/both-platforms.tar" --platform linux/arm64 | tail -n 1)" = "$D2" ]
	[ "$(layers_of "$A/both-platforms.tar" --platform linux/amd64)" = "$D1" ]
	run -1 --separate-stderr img-layers --archive "$A/both-platforms.tar" --platform linux/s390x
	[[ "$stderr" == *"no image for platform linux/s390x" ]] || fail "$stderr"
}

@test "rule: img-load and img-ls --archive find the same images with the same names, in every archive" {
	local m a n=0 loaded listed
	local more=()
	for m in docker25 legacy multi multi-mj; do
		more+=("$m=$BATS_TEST_TMPDIR/$m.tar")
	done
	python3 "$FIX/load-mkarchive.py" "$PEERS" "${more[@]}"
	tar -cf "$BATS_TEST_TMPDIR/layout.tar" -C "$PEERS/tiny-oci-layout" .
	for a in "$A"/*.tar "$BATS_TEST_TMPDIR"/*.tar "$PEERS"/*.tar; do
		case $a in */latelink.tar|*/fifo.tar) continue ;; esac   # refused by all
		case $a in */helm.tar) continue ;; esac    # img-load names an artifact; img-ls lists none
		n=$((n + 1))
		# the names of each named image, grouped by image (an artifact has none)
		loaded=$(img-load --check --json "$a" | jq -c '[.images[].names | select(length > 0)] | sort')
		listed=$(img-ls --archive "$a" --json | jq -c '[.[].names | select(length > 0)] | sort')
		[ "$loaded" = "$listed" ] || fail "$(basename "$a"): img-load $loaded, img-ls $listed"
		[ "$loaded" != "[]" ] || [[ $a == */docker25-untagged.tar || $a == */baretag.tar ]] ||
			fail "$(basename "$a"): no names"
	done
	[ "$n" -ge 19 ] || fail "only $n archives"
}

@test "an error line names a long path cut to 200 bytes" {
	long=$(printf 'd%.0s' $(seq 1 300))
	python3 -c '
import sys; sys.path.insert(0, sys.argv[1])
from archlib import Tar, dump
t = Tar("long.tar")
t.file("manifest.json", dump([{"Config": sys.argv[2] + "/c.json", "RepoTags": ["x:1"], "Layers": []}]))
t.close()' "$FIX" "$long"
	for cmd in "img-load --check long.tar" "img-layers --archive long.tar"; do
		run -1 --separate-stderr $cmd
		[ "$(wc -l <<<"$stderr")" = 1 ] || fail "$cmd: $stderr"
		[[ "$stderr" == *"…"* ]] || fail "$cmd: not cut: $stderr"
		[ "${#stderr}" -lt 300 ] || fail "$cmd: ${#stderr} characters: $stderr"
	done
}
