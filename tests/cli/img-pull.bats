#!/usr/bin/env bats
# img-pull against a real registry (Debian's docker-registry, distribution 2.8) that
# skopeo fills: digests as skopeo sees them, blobs verified, nothing fetched twice.
bats_require_minimum_version 1.5.0
load ../lib/helper
load ../lib/registry

# A two-platform index over tiny:1 (linux/amd64) and tiny:2 (linux/arm64), in a copy of
# the peers' layout, named "multi".
make_multi() {
	cp -r "$PEERS/tiny-oci-layout" "$1"
	chmod -R u+w "$1"
	python3 - "$1" <<-'PY'
	import hashlib, json, sys
	d = sys.argv[1]
	idx = json.load(open(d + "/index.json"))
	m = {e["annotations"]["org.opencontainers.image.ref.name"]: e for e in idx["manifests"]}
	def ent(e, arch):
	    return {"mediaType": e["mediaType"], "digest": e["digest"], "size": e["size"],
	            "platform": {"architecture": arch, "os": "linux"}}
	doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
	       "manifests": [ent(m["tiny:1"], "amd64"), ent(m["tiny:2"], "arm64")]}
	b = json.dumps(doc, separators=(",", ":")).encode()
	h = hashlib.sha256(b).hexdigest()
	open(d + "/blobs/sha256/" + h, "wb").write(b)
	idx["manifests"].append({"mediaType": doc["mediaType"], "digest": "sha256:" + h,
	                         "size": len(b), "annotations": {"org.opencontainers.image.ref.name": "multi"}})
	open(d + "/index.json", "w").write(json.dumps(idx))
	PY
}

setup_file() {
	command -v docker-registry >/dev/null && command -v skopeo >/dev/null || return 0
	BATS_TEST_TMPDIR=$BATS_FILE_TMPDIR
	start_registry "$BATS_FILE_TMPDIR/shared"
	skopeo_push tiny:1 tiny:1
	skopeo_push tiny:2 tiny:2
	make_multi "$BATS_FILE_TMPDIR/multi"
	skopeo copy -q --all --dest-tls-verify=false "oci:$BATS_FILE_TMPDIR/multi:multi" \
		"docker://$REG/multi:1" >/dev/null
	export SREG=$REG SREGLOG=$REGLOG SREG_PID=$(cat "$REGDIR/pid")
}

teardown_file() {
	[ -z "${SREG_PID:-}" ] || kill "$SREG_PID" 2>/dev/null || true
}

teardown() {
	stop_registries
}

# Use the shared registry (started once per file).
shared() {
	need docker-registry skopeo
	[ -n "${SREG:-}" ] || skip "shared registry not started"
	REG=$SREG REGLOG=$SREGLOG
}

# The digest the store's index.json gives NAME.
stored() {
	jq -r --arg n "$1" '.manifests[] | select(.annotations["io.containerd.image.name"] == $n) | .digest' \
		"$IMG_STORE/index.json"
}

@test "usage: --help, a bad option, no operand, exclusive options" {
	run -0 --separate-stderr img-pull --help
	[[ "${lines[0]}" == "usage: img-pull "* ]]
	[[ "$output" == *--all-platforms* && "$output" == *--tls-verify* ]]
	run -2 --separate-stderr img-pull
	[[ "$stderr" == *"usage: img-pull"* ]]
	run -2 --separate-stderr img-pull --platform linux/amd64 --all-platforms x
	[[ "$stderr" == *"exclude each other"* ]]
	run -2 --separate-stderr img-pull --jobs 0 x
	run -2 --separate-stderr img-pull --tls-verify=maybe x
}

@test "tiny:1 and tiny:2 pulled with skopeo's digests; the store checks out" {
	shared
	run -0 --separate-stderr img-pull -q "$REG/tiny:1" "$REG/tiny:2"
	d1=$(skopeo_digest tiny:1)
	d2=$(skopeo_digest tiny:2)
	[ "${lines[0]}" = "Pulled: $REG/tiny:1@$d1" ]
	[ "${lines[1]}" = "Pulled: $REG/tiny:2@$d2" ]
	[ "$(stored "$REG/tiny:1")" = "$d1" ]
	[ "$(stored "$REG/tiny:2")" = "$d2" ]
	run -0 img-gc --check
	run -0 img-ls "$REG/tiny"
	[ "${#lines[@]}" -eq 3 ]
	# every blob byte-identical to skopeo's copy
	for b in "$PEERS"/tiny-oci-layout/blobs/sha256/*; do
		h=$(basename "$b")
		[ ! -e "$IMG_STORE/blobs/sha256/$h" ] || cmp "$b" "$IMG_STORE/blobs/sha256/$h"
	done
	assert_no_temp "$IMG_STORE"
}

@test "a second pull transfers no blob; tiny:2 after tiny:1 fetches only the new ones" {
	shared
	before=$(blob_gets tiny)
	run -0 img-pull -q "$REG/tiny:1"
	mid=$(blob_gets tiny)
	[ "$mid" -eq $((before + 2)) ]
	run -0 img-pull -q "$REG/tiny:1"
	[ "$(blob_gets tiny)" -eq "$mid" ]
	run -0 --separate-stderr img-pull -q --json "$REG/tiny:2"
	[ "$(jq -r '.images[0].blobsPresent' <<<"$output")" -eq 1 ]
	[ "$(jq -r '.images[0].blobsFetched' <<<"$output")" -eq 2 ]
	[ "$(jq -r '.images[0].name' <<<"$output")" = "$REG/tiny:2" ]
	[ "$(blob_gets tiny)" -eq $((mid + 2)) ]
}

@test "an index: --all-platforms keeps it, --platform picks one manifest" {
	shared
	di=$(skopeo_digest multi:1)
	run -0 img-pull -q --all-platforms "$REG/multi:1"
	[ "$output" = "Pulled: $REG/multi:1@$di" ]
	[ "$(stored "$REG/multi:1")" = "$di" ]
	run -0 img-gc --check
	run -0 img-pull -q --platform linux/arm64 "$REG/multi:1"
	d2=$(jq -r '.manifests[1].digest' "$IMG_STORE/blobs/sha256/${di#sha256:}")
	[ "$(stored "$REG/multi:1")" = "$d2" ]
	run -1 --separate-stderr img-pull -q --platform linux/s390x "$REG/multi:1"
	[[ "$stderr" == *"no manifest for platform linux/s390x"* ]]
}

@test "by digest: verified, named repo@digest" {
	shared
	d1=$(skopeo_digest tiny:1)
	run -0 img-pull -q "$REG/tiny@$d1"
	[ "$output" = "Pulled: $REG/tiny@$d1" ]
	[ "$(stored "$REG/tiny@$d1")" = "$d1" ]
	# a digest the registry does not have
	run -1 --separate-stderr img-pull -q "$REG/tiny@sha256:$(printf x | sha256sum | cut -c1-64)"
	[[ "$stderr" == *"MANIFEST_UNKNOWN"* || "$stderr" == *"not found"* ]]
}

@test "errors: unknown tag and repository, with the registry's message" {
	shared
	run -1 --separate-stderr img-pull -q "$REG/tiny:nope"
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "img-pull: $REG/tiny:nope: manifest tiny:nope: MANIFEST_UNKNOWN: "*"(HTTP 404)" ]]
	run -1 --separate-stderr img-pull -q "$REG/tiny:nope" "$REG/tiny:1"
	[ "$output" = "Pulled: $REG/tiny:1@$(skopeo_digest tiny:1)" ]
}

@test "a blob whose bytes are wrong is refused and nothing is named" {
	need docker-registry skopeo
	start_registry
	skopeo_push tiny:1 tiny:1
	layer=$(find "$REGDIR/data" -path '*/blobs/sha256/*/data' -size +100k)
	[ -n "$layer" ]
	printf 'X' | dd of="$layer" bs=1 seek=5000 conv=notrunc 2>/dev/null
	run -1 --separate-stderr img-pull -q "$REG/tiny:1"
	[[ "$stderr" == *"digest mismatch"* ]]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
	h=$(basename "$(dirname "$layer")")
	[ ! -e "$IMG_STORE/blobs/sha256/$h" ]
	assert_no_temp "$IMG_STORE"
	run -0 img-gc --check
}

@test "a registry that is gone: exit 1 after a few retries, in bounded time" {
	need docker-registry
	start_registry
	stop_registries
	SECONDS=0
	run -1 --separate-stderr img-pull -q "$REG/tiny:1"
	[ "$SECONDS" -lt 20 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "img-pull: $REG/tiny:1: "*"onnect"* ]]
}

@test "a pull killed in the middle of a blob resumes where it stopped" {
	need python3
	mkdir -p rootfs
	head -c 6291456 /dev/urandom > rootfs/big
	tar -C rootfs -cf big.tar .
	IMG_STORE=$BATS_TEST_TMPDIR/src img-import -q --compress none big.tar big:1 >/dev/null
	start_redirect_registry u pw "$BATS_TEST_TMPDIR/src" 1572864
	export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf u:pw | base64)" > "$REGISTRY_AUTH_FILE"
	img-pull -q "$REG/big:1" 3>&- &
	pid=$!
	for i in $(seq 200); do
		part=$(find "$IMG_STORE/.img/tmp" -name 'part-*' -size +1023k 2>/dev/null | head -1)
		[ -n "$part" ] && break
		sleep 0.05
	done
	[ -n "$part" ]
	kill -TERM "$pid"
	wait "$pid" || true
	have=$(stat -c %s "$part")
	total=$(stat -c %s "$BATS_TEST_TMPDIR/src/blobs/sha256/${part##*/part-}")
	[ "$have" -gt 0 ] && [ "$have" -lt "$total" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
	run -0 img-pull -q "$REG/big:1"
	[[ "$output" == "Pulled: $REG/big:1@sha256:"* ]]
	# the second GET of that blob asked for the rest only, and got fewer bytes than the blob
	# (the server logs a request once it has sent it: wait for the line)
	for i in $(seq 40); do
		line=$(grep "storage GET /storage/sha256:${part##*/part-} .*range=bytes" "$REGLOG" | tail -1)
		[ -n "$line" ] && break
		sleep 0.05
	done
	[[ "$line" == *"range=bytes=$have-"* ]]
	sent=${line##*sent=}
	[ "$sent" -eq $((total - have)) ]
	run -0 img-gc --check
	assert_no_temp "$IMG_STORE"
}

@test "--jobs, --progress plain: one blob at a time, a final progress line" {
	shared
	run -0 --separate-stderr img-pull --jobs 1 --progress plain "$REG/tiny:2"
	[[ "$stderr" == *"pulling $REG/tiny:2"* ]]
	[[ "$stderr" == *"img-pull: "[0-9]*" blobs fetched ("*"), "[0-9]*" present" ]]
	# without a terminal, CI or --progress: nothing on stderr
	run -0 --separate-stderr img-pull "$REG/tiny:2"
	[ -z "$stderr" ]
	[[ "$output" == "Pulled: $REG/tiny:2@"* ]]
}

@test "5xx and 429 are retried with backoff; a registry that keeps refusing: its message" {
	need python3
	export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
	REGSERVER_FAIL=503:2 start_redirect_registry u pw
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf u:pw | base64)" > "$REGISTRY_AUTH_FILE"
	run -0 --separate-stderr img-pull -q "$REG/tiny:1"
	[[ "$output" == "Pulled: $REG/tiny:1@sha256:"* ]]
	[ "$(grep -c 'answered 503' "$REGLOG")" -eq 2 ]
	stop_registries
	rm -rf "$IMG_STORE"
	REGSERVER_FAIL=429:100 start_redirect_registry u pw
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf u:pw | base64)" > "$REGISTRY_AUTH_FILE"
	SECONDS=0
	run -1 --separate-stderr img-pull -q "$REG/tiny:1"
	[ "$SECONDS" -lt 15 ]
	[ "$stderr" = "img-pull: $REG/tiny:1: manifest tiny:1: TOOMANYREQUESTS: try again later (429) (HTTP 429)" ]
	# the first try and 3 retries
	[ "$(grep -c 'answered 429' "$REGLOG")" -eq 4 ]
}

@test "a manifest over 4 MiB is refused, nothing named" {
	need python3
	mkdir -p lay/blobs/sha256
	python3 -c 'import json; print(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "0" * 64, "size": 2}, "layers": [], "annotations": {"pad": "x" * (5 << 20)}}))' > m.json
	h=$(sha256sum < m.json | cut -c1-64)
	mv m.json "lay/blobs/sha256/$h"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"big:1"}}]}' \
		"$h" "$(stat -c %s "lay/blobs/sha256/$h")" > lay/index.json
	export REGISTRY_AUTH_FILE=$BATS_TEST_TMPDIR/auth.json
	start_redirect_registry u pw "$BATS_TEST_TMPDIR/lay"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf u:pw | base64)" > "$REGISTRY_AUTH_FILE"
	run -1 --separate-stderr img-pull -q "$REG/big:1"
	[ "$stderr" = "img-pull: $REG/big:1: manifest big:1: larger than 4194304 bytes" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
}

@test "a kept partial file with wrong bytes: refused, then the blob fetched again from byte 0" {
	shared
	layer=$(skopeo inspect --raw --tls-verify=false "docker://$REG/tiny:1" | jq -r '.layers[0].digest')
	mkdir -p "$IMG_STORE/.img/tmp"
	head -c 1000 /dev/urandom > "$IMG_STORE/.img/tmp/part-${layer#sha256:}"
	before=$(grep -c "\"GET /v2/tiny/blobs/$layer " "$REGLOG" || true)
	run -0 --separate-stderr img-pull -q "$REG/tiny:1"
	[ "$(grep -c "\"GET /v2/tiny/blobs/$layer " "$REGLOG")" -eq $((before + 2)) ]
	# the first of the two was the rest after byte 1000, the second the whole blob
	size=$(stat -c %s "$IMG_STORE/blobs/sha256/${layer#sha256:}")
	grep "\"GET /v2/tiny/blobs/$layer " "$REGLOG" | tail -2 | awk '{ print $(NF - 2) }' > sizes
	[ "$(sed -n 1p sizes)" -eq $((size - 1000)) ]
	[ "$(sed -n 2p sizes)" -eq "$size" ]
	run -0 img-gc --check
	assert_no_temp "$IMG_STORE"
}

@test "docker schema 2 types (as skopeo --format v2s2 writes them): pulled byte for byte" {
	shared
	skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$PEERS/tiny-oci-layout:tiny:2" "docker://$REG/dock:2"
	d=$(skopeo_digest dock:2)
	run -0 img-pull -q "$REG/dock:2"
	[ "$output" = "Pulled: $REG/dock:2@$d" ]
	[ "$(jq -r --arg d "$d" '.manifests[] | select(.digest == $d) | .mediaType' "$IMG_STORE/index.json")" = \
		application/vnd.docker.distribution.manifest.v2+json ]
	run -0 img-gc --check
	# and pushed back under another name: the same digest
	run -0 img-push -q "$REG/dock:2" "$REG/dock2:2"
	[ "$(skopeo_digest dock2:2)" = "$d" ]
}
