#!/usr/bin/env bats
# img-inspect: docker image inspect / skopeo inspect, from the store and from archives.
bats_require_minimum_version 1.5.0
load ../lib/helper

M2=sha256:8ded9eff6d51b75a32fd1e7ead912fe4ec319961e9378581a02a87acf8aacfaa
C2=sha256:7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804

store_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" \
		"oci:$IMG_STORE:docker.io/library/tiny:$1" >/dev/null
}

# The fields img-inspect and skopeo inspect share, as one line each.
common() { jq -r '.Digest, (.Layers | join(",")), (.Env | join(",")), .Architecture, .Os'; }

@test "the store: agrees with skopeo inspect (digest, layers, env, architecture) and --config (cmd)" {
	store_tiny 2
	img-tag tiny:2 example.com/team/tiny:v2
	run -0 --separate-stderr img-inspect tiny:2
	[ -z "$stderr" ] || fail "$stderr"
	doc=$output
	[ "$(common <<<"$doc")" = "$(skopeo inspect "oci:$IMG_STORE:docker.io/library/tiny:2" | common)" ] ||
		fail "$doc"
	[ "$(jq -c .Config.Cmd <<<"$doc")" = \
	  "$(skopeo inspect --config "oci:$IMG_STORE:docker.io/library/tiny:2" | jq -c .config.Cmd)" ]
	[ "$(jq -r .Id <<<"$doc")" = "$C2" ]
	[ "$(jq -r '.RepoTags | sort | join(" ")' <<<"$doc")" = "example.com/team/tiny:v2 tiny:2" ] || fail "$doc"
	[ "$(jq -r '.RepoDigests | sort | join(" ")' <<<"$doc")" = "example.com/team/tiny@$M2 tiny@$M2" ]
	[ "$(jq -r '.RootFS.Layers | length' <<<"$doc")" = 2 ]
	[ "$(jq -r '[.LayersData[].Size] | add' <<<"$doc")" = "$(jq -r .Size <<<"$doc")" ]
	[ "$(jq -r '.LayersData[0].MIMEType' <<<"$doc")" = application/vnd.oci.image.layer.v1.tar+gzip ]
}

@test "--raw and --config: the bytes, unchanged, hash to Digest and Id" {
	store_tiny 2
	[ "sha256:$(img-inspect --raw tiny:2 | sha256sum | cut -d' ' -f1)" = "$M2" ]
	[ "sha256:$(img-inspect --config tiny:2 | sha256sum | cut -d' ' -f1)" = "$C2" ]
	cmp <(img-inspect --raw tiny:2) "$PEERS/tiny-oci-layout/blobs/sha256/${M2#sha256:}"
	# from archives: the same bytes
	[ "sha256:$(img-inspect --raw "archive:$PEERS/tiny2-oci.tar" | sha256sum | cut -d' ' -f1)" = "$M2" ]
	[ "sha256:$(img-inspect --config "archive:$PEERS/tiny2-docker.tar" | sha256sum | cut -d' ' -f1)" = "$C2" ]
	# a docker-save item has no manifest to print
	run -1 --separate-stderr img-inspect --raw "archive:$PEERS/tiny2-docker.tar"
	[[ "$stderr" == "img-inspect: "*"no manifest"* ]] || fail "$stderr"
}

@test "archives: every dialect gives the same config, layers and env; #IMAGE picks one" {
	for f in tiny2-docker.tar tiny2-oci.tar tiny2-podman-oci.tar; do
		run -0 img-inspect "archive:$PEERS/$f"
		[ "$(jq -r '.RootFS.Layers | join(",")' <<<"$output")" = \
		  "sha256:eeccac13f4af67267c79419df48707b8de063ac0185b22b2b42895e1aeedc9f6,sha256:e0ac5db640803adc070444c35f994c40019c9fe9c73ed3b88ccf91db9bc4e904" ] ||
			fail "$f: $output"
		[ "$(jq -c .Config.Cmd <<<"$output")" = '["/bin/hello"]' ] || fail "$f: $output"
	done
	run -0 img-inspect "archive:$PEERS/tiny2-oci.tar"
	[ "$(jq -r .Digest <<<"$output")" = "$M2" ]
	run -0 img-inspect "archive:-" < "$PEERS/tiny2-oci.tar"
	[ "$(jq -r .Id <<<"$output")" = "$C2" ]
	run -0 img-inspect "archive:$PEERS/tiny12-multi-docker.tar#tiny:2"
	[ "$(jq -r .Id <<<"$output")" = "$C2" ]
	[ "$(jq -r '.Digest' <<<"$output")" = null ]
	run -1 --separate-stderr img-inspect "archive:$PEERS/tiny12-multi-docker.tar"
	[[ "$stderr" == *"holds 2 images"* ]] || fail "$stderr"
}

@test "archives: agrees with skopeo inspect (digest, layers, env, architecture, os, cmd)" {
	need skopeo
	local f doc
	for f in oci-archive:tiny2-oci.tar oci-archive:tiny2-podman-oci.tar docker-archive:tiny2-docker.tar; do
		run -0 --separate-stderr img-inspect "archive:$PEERS/${f#*:}"
		doc=$output
		if [ "${f%%:*}" = docker-archive ]; then
			# a docker-save item has no manifest: skopeo makes one up, img reports none
			[ "$(jq -r .Digest <<<"$doc")" = null ] || fail "$f: $doc"
			[ "$(common <<<"$doc" | tail -n +2)" = "$(skopeo inspect "${f%%:*}:$PEERS/${f#*:}" | common | tail -n +2)" ] ||
				fail "$f: $doc"
		else
			[ "$(common <<<"$doc")" = "$(skopeo inspect "${f%%:*}:$PEERS/${f#*:}" | common)" ] || fail "$f: $doc"
		fi
		[ "$(jq -c .Config.Cmd <<<"$doc")" = \
		  "$(skopeo inspect --config "${f%%:*}:$PEERS/${f#*:}" | jq -c .config.Cmd)" ] || fail "$f: $doc"
	done
}

@test "errors: no such image, no store, usage" {
	run -1 --separate-stderr img-inspect nosuch:1
	[ "$(wc -l <<<"$stderr")" = 1 ] || fail "$stderr"
	run -1 --separate-stderr img-inspect "archive:$BATS_TEST_TMPDIR/none.tar"
	[ "$(wc -l <<<"$stderr")" = 1 ] || fail "$stderr"
	run -2 img-inspect --raw --config tiny:2
	run -2 img-inspect
	run -2 img-inspect a b
}
