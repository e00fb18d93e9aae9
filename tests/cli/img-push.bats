#!/usr/bin/env bats
# img-push against a real registry (Debian's docker-registry, distribution 2.8): what
# skopeo and podman read back, blobs skipped and mounted, manifests byte for byte.
bats_require_minimum_version 1.5.0
load ../lib/helper
load ../lib/registry

teardown() {
	stop_registries
}

# The peers' tiny:N into the store as NAME (skopeo writes the store's OCI layout).
store_tiny() {
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" "oci:$IMG_STORE:$2"
}

# Uploads the registry logged that finished a blob (PUT ...?digest=) for repository $1.
blob_puts() {
	grep -c "\"PUT /v2/$1/blobs/uploads/[^ ]*digest=" "$REGLOG" || true
}

@test "usage: --help, a bad option, operands, --chunk-size" {
	run -0 --separate-stderr img-push --help
	[[ "${lines[0]}" == "usage: img-push "* ]]
	run -2 --separate-stderr img-push
	[[ "$stderr" == *"usage: img-push"* ]]
	run -2 --separate-stderr img-push a b c
	run -2 --separate-stderr img-push --chunk-size 10 a
	run -1 --separate-stderr img-push no-such-image 127.0.0.1:1/x:1
	[[ "$stderr" == "img-push: no image store at "* ]]
	import_tiny
	run -1 --separate-stderr img-push no-such-image 127.0.0.1:1/x:1
	[[ "$stderr" == "img-push: no-such-image: no such image: no-such-image" ]]
}

@test "img-import, img-push, img-rm, img-gc, img-pull: the same digest; skopeo agrees" {
	need docker-registry skopeo
	start_registry
	import_tiny "$REG/app:1"
	d=$(jq -r '.manifests[0].digest' "$IMG_STORE/index.json")
	run -0 --separate-stderr img-push -q "$REG/app:1"
	[ "$output" = "Pushed: $REG/app:1@$d" ]
	run -0 skopeo inspect --tls-verify=false "docker://$REG/app:1"
	[ "$(jq -r .Digest <<<"$output")" = "$d" ]
	want=$(jq -c '[.layers[].digest]' "$IMG_STORE/blobs/sha256/${d#sha256:}")
	[ "$(jq -c .Layers <<<"$output")" = "$want" ]
	# the registry holds the manifest byte for byte
	[ "$(skopeo_digest app:1)" = "$d" ]
	run -0 img-rm "$REG/app:1"
	run -0 img-gc
	[ -z "$(ls "$IMG_STORE/blobs/sha256")" ]
	run -0 img-pull -q "$REG/app:1"
	[ "$output" = "Pulled: $REG/app:1@$d" ]
	run -0 img-gc --check
}

@test "tiny:2 after tiny:1 uploads only what is new; a second repository mounts" {
	need docker-registry skopeo
	start_registry
	store_tiny 1 "$REG/tiny:1"
	store_tiny 2 "$REG/tiny:2"
	run -0 --separate-stderr img-push -q --json "$REG/tiny:1"
	[ "$(jq -r .blobsUploaded <<<"$output")" -eq 2 ]
	[ "$(blob_puts tiny)" -eq 2 ]
	run -0 --separate-stderr img-push -q --json "$REG/tiny:2"
	[ "$(jq -r .blobsUploaded <<<"$output")" -eq 2 ]
	[ "$(jq -r .blobsPresent <<<"$output")" -eq 1 ]
	[ "$(blob_puts tiny)" -eq 4 ]
	[ "$(skopeo_digest tiny:2)" = "$(jq -r .digest <<<"$output")" ]
	# the same push again uploads nothing
	run -0 --separate-stderr img-push -q --json "$REG/tiny:2"
	[ "$(jq -r .blobsPresent <<<"$output")" -eq 3 ]
	[ "$(blob_puts tiny)" -eq 4 ]
	# to another repository of the same registry: mounted from tiny
	run -0 --separate-stderr img-push --progress plain "$REG/tiny:1" "$REG/team/other:1"
	[[ "$stderr" == *"img-push: 0 blobs uploaded (0B), 2 mounted, 0 present" ]]
	run -0 --separate-stderr img-push -q --json "$REG/tiny:2" "$REG/team/copy:2"
	[ "$(jq -r .blobsMounted <<<"$output")" -eq 3 ]
	[ "$(jq -r .blobsUploaded <<<"$output")" -eq 0 ]
	grep -q "POST /v2/team/copy/blobs/uploads/?mount=sha256:[0-9a-f]*&from=tiny HTTP/1.1\" 201" "$REGLOG"
	[ "$(skopeo_digest team/copy:2)" = "$(skopeo_digest tiny:2)" ]
}

@test "chunked uploads (PATCH); skopeo copies what img pushed; podman pulls it" {
	need docker-registry skopeo
	start_registry
	store_tiny 1 "$REG/tiny:1"
	run -0 --separate-stderr img-push -q --chunk-size 65536 "$REG/tiny:1"
	[ "$(grep -c '"PATCH /v2/tiny/blobs/uploads/' "$REGLOG")" -ge 16 ]
	d=$(skopeo_digest tiny:1)
	[ "$output" = "Pushed: $REG/tiny:1@$d" ]
	run -0 skopeo copy -q --src-tls-verify=false "docker://$REG/tiny:1" "oci:$BATS_TEST_TMPDIR/copy:x"
	[ "$(jq -r '.manifests[0].digest' "$BATS_TEST_TMPDIR/copy/index.json")" = "$d" ]
	command -v podman >/dev/null || skip "podman not installed"
	run -0 timeout 120 podman --root "$BATS_TEST_TMPDIR/proot" --runroot "$BATS_TEST_TMPDIR/prun" \
		--storage-driver vfs pull -q --tls-verify=false "docker://$REG/tiny:1"
	cfg=$(jq -r .config.digest "$IMG_STORE/blobs/sha256/${d#sha256:}")
	[ "${lines[-1]}" = "${cfg#sha256:}" ]
}

@test "an index: children before the index, the index digest kept" {
	need docker-registry skopeo
	start_registry
	# a two-platform index over tiny:1 and tiny:2, in the store as multi
	store_tiny 1 "$REG/tiny:1"
	store_tiny 2 "$REG/tiny:2"
	m1=$(jq -r '.manifests[0].digest' "$IMG_STORE/index.json")
	m2=$(jq -r '.manifests[1].digest' "$IMG_STORE/index.json")
	idx='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['
	idx+="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$m1\",\"size\":349,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	idx+="{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$m2\",\"size\":503,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}"
	printf '%s' "$idx" > idx.json
	h=$(sha256sum < idx.json | cut -c1-64)
	cp idx.json "$IMG_STORE/blobs/sha256/$h"
	jq --arg d "sha256:$h" --argjson s "$(stat -c %s idx.json)" \
		'.manifests += [{"mediaType":"application/vnd.oci.image.index.v1+json","digest":$d,"size":$s,"annotations":{"io.containerd.image.name":"docker.io/library/multi:latest","org.opencontainers.image.ref.name":"docker.io/library/multi:latest"}}]' \
		"$IMG_STORE/index.json" > i.json && mv i.json "$IMG_STORE/index.json"
	run -0 --separate-stderr img-push -q multi "$REG/multi:1"
	[ "$output" = "Pushed: $REG/multi:1@sha256:$h" ]
	[ "$(skopeo_digest multi:1)" = "sha256:$h" ]
	# both children went up by digest before the index went up by tag
	n1=$(grep -n "PUT /v2/multi/manifests/$m1" "$REGLOG" | cut -d: -f1)
	n2=$(grep -n "PUT /v2/multi/manifests/$m2" "$REGLOG" | cut -d: -f1)
	ni=$(grep -n "PUT /v2/multi/manifests/1 " "$REGLOG" | cut -d: -f1)
	[ -n "$n1" ] && [ -n "$n2" ] && [ "$n1" -lt "$ni" ] && [ "$n2" -lt "$ni" ]
}

@test "a registry that is gone: exit 1 in bounded time; a digest DEST must be the image's" {
	need docker-registry
	start_registry
	stop_registries
	import_tiny "$REG/app:1"
	SECONDS=0
	run -1 --separate-stderr img-push -q "$REG/app:1"
	[ "$SECONDS" -lt 20 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "img-push: $REG/app:1: "*"onnect"* ]]
	run -1 --separate-stderr img-push -q "$REG/app:1" "$REG/app@sha256:$(printf x | sha256sum | cut -c1-64)"
	[[ "$stderr" == *"is not the image's"* ]]
}

@test "a blob missing from the store: exit 1 naming it, no tag on the registry" {
	need docker-registry
	start_registry
	import_tiny "$REG/app:1"
	d=$(jq -r '.manifests[0].digest' "$IMG_STORE/index.json")
	layer=$(jq -r '.layers[0].digest' "$IMG_STORE/blobs/sha256/${d#sha256:}")
	rm "$IMG_STORE/blobs/sha256/${layer#sha256:}"
	run -1 --separate-stderr img-push -q "$REG/app:1"
	[ "$stderr" = "img-push: $REG/app:1: blob $layer: missing" ]
	run -0 curl -s -o /dev/null -w '%{http_code}' "http://$REG/v2/app/manifests/1"
	[ "$output" = 404 ]
}
