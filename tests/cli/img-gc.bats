#!/usr/bin/env bats
# img-gc: mark and sweep, --dangling, --json, --check, and collection beside concurrent
# writers.
bats_require_minimum_version 1.5.0
load ../lib/helper

# Copy tiny:N from the peers' layout into the store under NAME (skopeo writes the store).
copy_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" "oci:$IMG_STORE:$2"
}

# The manifest digest index.json gives NAME (by ref.name).
mdigest() {
	jq -r --arg n "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' \
		"$IMG_STORE/index.json"
}

# Digests a manifest references (config, then layers), one a line.
refs_of() {
	jq -r '.config.digest, .layers[].digest' "$IMG_STORE/blobs/sha256/${1#sha256:}"
}

blob() { printf '%s\n' "$IMG_STORE/blobs/sha256/${1#sha256:}"; }

# Store the bytes of a file as a blob; print its digest.
put_blob() {
	local h
	h=$(sha256sum < "$1" | cut -c1-64)
	cp "$1" "$IMG_STORE/blobs/sha256/$h"
	printf 'sha256:%s\n' "$h"
}

size_of() { stat -c %s "$(blob "$1")"; }

@test "usage: --help, a bad option, an operand, --check with -n" {
	run -0 --separate-stderr img-gc --help
	[[ "${lines[0]}" == "usage: img-gc [-n] [-S DIR] [--dangling] [--json]" ]]
	[[ "${lines[1]}" == "       img-gc [-S DIR] --check [--json]" ]]
	[[ "$output" == *--dry-run* && "$output" == *--check* ]]
	run -2 --separate-stderr img-gc --bogus
	[[ "$stderr" == *"usage: img-gc"* ]]
	[ -z "$output" ]
	run -2 --separate-stderr img-gc extra
	run -2 --separate-stderr img-gc --check -n
	run -2 --separate-stderr img-gc --check --dangling
	run -0 img-gc --version
	[ "$output" = "img-gc 0.1.0" ]
}

@test "a missing store is an error" {
	run -1 --separate-stderr img-gc -S "$BATS_TEST_TMPDIR/nowhere"
	[[ "$stderr" == "img-gc: no image store at $BATS_TEST_TMPDIR/nowhere"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "a store where everything is reachable loses nothing" {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	before=$(ls "$IMG_STORE/blobs/sha256")
	run -0 --separate-stderr img-gc
	[ "$output" = "Total reclaimed space: 0B" ]
	[ -z "$stderr" ]
	[ "$(ls "$IMG_STORE/blobs/sha256")" = "$before" ]
	run -0 img-gc --check
}

@test "gc after rm of one of two images sharing a base keeps the base, deletes the rest" {
	need skopeo
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m1=$(mdigest docker.io/library/tiny:1)
	m2=$(mdigest docker.io/library/tiny:2)
	mapfile -t r1 < <(refs_of "$m1")
	mapfile -t r2 < <(refs_of "$m2")
	base=${r1[1]}
	[ "${r2[1]}" = "$base" ]          # the fixture shares its base layer
	[ "${#r2[@]}" -eq 3 ]
	run -0 img-rm --no-prune tiny:2
	[ "$output" = "Untagged: tiny:2" ]
	[ -f "$(blob "$m2")" ]

	expect=$(printf '%s\n' "$m2" "${r2[0]}" "${r2[2]}" | sort | sed 's/^/Deleted: /')
	run -0 img-gc -n
	[ "$(sed '$d' <<<"$output")" = "$expect" ]
	[[ "${lines[-1]}" =~ ^Total\ reclaimed\ space:\ [0-9.]+k?B$ ]]
	[ -f "$(blob "$m2")" ] && [ -f "$(blob "${r2[2]}")" ]     # -n deleted nothing
	total=$(( $(size_of "$m2") + $(size_of "${r2[0]}") + $(size_of "${r2[2]}") ))
	run -0 img-gc -n --json
	[ "$(jq -r .reclaimed <<<"$output")" = "$total" ]
	[ "$(jq -r '.deleted[].digest' <<<"$output" | sed 's/^/Deleted: /')" = "$expect" ]
	[ "$(jq -r '[.deleted[].size] | add' <<<"$output")" = "$total" ]

	run -0 img-gc
	[ "$(sed '$d' <<<"$output")" = "$expect" ]
	[ ! -e "$(blob "$m2")" ] && [ ! -e "$(blob "${r2[0]}")" ] && [ ! -e "$(blob "${r2[2]}")" ]
	for d in "$m1" "${r1[@]}"; do [ -f "$(blob "$d")" ] || fail "lost $d"; done
	[ "$(ls "$IMG_STORE/blobs/sha256" | wc -l)" -eq 3 ]
	run -0 skopeo inspect "oci:$IMG_STORE:docker.io/library/tiny:1"
	[ "$(jq -r .Digest <<<"$output")" = "$m1" ]
	run -0 skopeo copy -q "oci:$IMG_STORE:docker.io/library/tiny:1" "oci:$BATS_TEST_TMPDIR/out:x"
	run -0 img-gc -n
	[ "$output" = "Total reclaimed space: 0B" ]
	run -0 img-gc --check
}

@test "stale temp files go; files in blobs/ that are not digests stay" {
	copy_tiny 1 docker.io/library/tiny:1
	mkdir -p "$IMG_STORE/.img/tmp/dir.x/sub"
	head -c 1500 /dev/zero > "$IMG_STORE/.img/tmp/blob-abc123"
	head -c 500 /dev/zero > "$IMG_STORE/.img/tmp/dir.x/sub/f"
	ln -s /etc/passwd "$IMG_STORE/.img/tmp/link"
	echo other > "$IMG_STORE/blobs/sha256/oci-put-blob-123"
	run -0 img-gc -n
	[ "$output" = "Total reclaimed space: 2kB" ]
	[ -f "$IMG_STORE/.img/tmp/blob-abc123" ]
	run -0 img-gc
	[ "$output" = "Total reclaimed space: 2kB" ]
	[ -z "$(ls -A "$IMG_STORE/.img/tmp")" ]
	[ -f /etc/passwd ]
	[ -f "$IMG_STORE/blobs/sha256/oci-put-blob-123" ]
	assert_no_temp "$IMG_STORE"
}

@test "nested indexes, subject and unknown media types are kept; orphans of every kind go" {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m1=$(mdigest docker.io/library/tiny:1)
	m2=$(mdigest docker.io/library/tiny:2)
	s1=$(size_of "$m1")
	s2=$(size_of "$m2")
	mt=application/vnd.oci.image.manifest.v1+json
	# An opaque blob of an unknown type, referenced only from index.json.
	echo "some opaque thing" > thing
	thing=$(put_blob thing)
	# A referrer manifest (subject: tiny:1) with an artifact layer.
	echo "signature bytes" > sig
	sig=$(put_blob sig)
	printf '{}' > empty
	empty=$(put_blob empty)
	printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.example.sig.v1","digest":"%s","size":%s}],"subject":{"mediaType":"%s","digest":"%s","size":%s}}' \
		"$mt" "$empty" "$sig" "$(size_of "$sig")" "$mt" "$m1" "$s1" > ref.json
	ref=$(put_blob ref.json)
	# tiny:2 is reachable only through a nested index two levels down.
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"%s","size":%s,"platform":{"os":"linux","architecture":"amd64"}}]}' \
		"$mt" "$m2" "$s2" > inner.json
	inner=$(put_blob inner.json)
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"%s","size":%s}]}' \
		"$inner" "$(size_of "$inner")" > outer.json
	outer=$(put_blob outer.json)
	# Orphans: a manifest, and the blob only it references.
	echo "orphan layer" > ol
	ol=$(put_blob ol)
	printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
		"$mt" "$empty" "$ol" "$(size_of "$ol")" > om.json
	om=$(put_blob om.json)
	jq -c --arg m1 "$m1" --argjson s1 "$s1" --arg thing "$thing" --arg ref "$ref" \
		--argjson rs "$(size_of "$ref")" --arg outer "$outer" --argjson os "$(size_of "$outer")" \
		--argjson ts "$(size_of "$thing")" '{schemaVersion: 2, manifests: [
		  {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m1, size: $s1,
		   annotations: {"org.opencontainers.image.ref.name": "docker.io/library/tiny:1"}},
		  {mediaType: "application/vnd.oci.image.index.v1+json", digest: $outer, size: $os,
		   annotations: {"org.opencontainers.image.ref.name": "docker.io/library/multi:1"}},
		  {mediaType: "application/vnd.example.unknown+json", digest: $thing, size: $ts},
		  {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $ref, size: $rs,
		   annotations: {"io.containerd.manifest.subject": $m1}}]}' \
		"$IMG_STORE/index.json" > index.new
	mv index.new "$IMG_STORE/index.json"
	run -0 img-gc --check
	expect=$(printf 'Deleted: %s\n' "$om" "$ol" | sort)
	run -0 img-gc
	[ "$(sed '$d' <<<"$output")" = "$expect" ]
	for d in "$m1" "$m2" $(refs_of "$m1") $(refs_of "$m2") "$thing" "$sig" "$empty" "$ref" "$inner" "$outer"; do
		[ -f "$(blob "$d")" ] || fail "lost $d"
	done
	run -0 img-gc --check
}

@test "--dangling removes unnamed images and the referrers of removed images only" {
	need skopeo
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m1=$(mdigest docker.io/library/tiny:1)
	m2=$(mdigest docker.io/library/tiny:2)
	mapfile -t r2 < <(refs_of "$m2")
	mt=application/vnd.oci.image.manifest.v1+json
	printf '{}' > empty
	empty=$(put_blob empty)
	for n in 1 2; do
		m=$m1; [ $n = 2 ] && m=$m2
		echo "signature $n" > sig$n
		sig=$(put_blob sig$n)
		printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.example.sig.v1","digest":"%s","size":%s}],"subject":{"mediaType":"%s","digest":"%s","size":%s}}' \
			"$mt" "$empty" "$sig" "$(size_of "$sig")" "$mt" "$m" "$(size_of "$m")" > ref$n.json
		eval "sig$n=\$sig ref$n=\$(put_blob ref$n.json)"
	done
	# tiny:2 loses its name (stays as an unnamed entry); each image gets a referrer.
	jq -c --arg r1 "$ref1" --arg r2 "$ref2" --arg m1 "$m1" --arg m2 "$m2" \
		--argjson s1 "$(size_of "$ref1")" --argjson s2 "$(size_of "$ref2")" '
		.manifests |= map(if .digest == $m2 then del(.annotations) else . end) |
		.manifests += [
		  {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $r1, size: $s1,
		   annotations: {"io.containerd.manifest.subject": $m1}},
		  {mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $r2, size: $s2,
		   annotations: {"io.containerd.manifest.subject": $m2}}]' \
		"$IMG_STORE/index.json" > index.new
	mv index.new "$IMG_STORE/index.json"
	cp "$IMG_STORE/index.json" index.before

	run -0 img-gc
	[ "$output" = "Total reclaimed space: 0B" ]     # unnamed entries are roots

	expect=$(printf 'Deleted: %s\n' "$m2" "${r2[0]}" "${r2[2]}" "$ref2" "$sig2" | sort)
	run -0 img-gc -n --dangling
	[ "$(sed '$d' <<<"$output")" = "$expect" ]
	cmp index.before "$IMG_STORE/index.json"
	run -0 img-gc --dangling --json
	[ "$(jq -r '.deleted[].digest' <<<"$output" | sed 's/^/Deleted: /')" = "$expect" ]
	[ "$(jq -r .dangling_removed <<<"$output")" = 2 ]
	run -0 jq -r '.manifests[].digest' "$IMG_STORE/index.json"
	[ "$output" = "$(printf '%s\n' "$m1" "$ref1")" ]
	[ -f "$(blob "$sig1")" ] && [ -f "$(blob "$ref1")" ] && [ -f "$(blob "${r2[1]}")" ]
	run -0 img-gc --check
	run -0 skopeo inspect "oci:$IMG_STORE:docker.io/library/tiny:1"
}

@test "--check finds a flipped byte, a truncated blob and a missing blob, each named" {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	run -0 --separate-stderr img-gc --check
	[ -z "$output" ] && [ -z "$stderr" ]
	m2=$(mdigest docker.io/library/tiny:2)
	mapfile -t r2 < <(refs_of "$m2")
	cfg=${r2[0]} base=${r2[1]} top=${r2[2]}
	# A byte of the base layer flipped, the config truncated, the top layer gone.
	f=$(blob "$base")
	b=$(od -An -tu1 -j100 -N1 "$f" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$f" bs=1 seek=100 conv=notrunc status=none
	got=$(sha256sum < "$f" | cut -c1-64)
	csize=$(size_of "$cfg")
	truncate -s 10 "$(blob "$cfg")"
	rm "$(blob "$top")"
	run -1 --separate-stderr img-gc --check
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 3 ]
	grep -qxF "img-gc: blobs/sha256/${base#sha256:}: digest mismatch (got sha256:$got)" <<<"$stderr"
	grep -qxF "img-gc: blobs/sha256/${cfg#sha256:}: size 10, expected $csize" <<<"$stderr"
	grep -qxF "img-gc: blobs/sha256/${top#sha256:}: missing" <<<"$stderr"
	run -1 --separate-stderr img-gc --check --json
	[ "$(jq -r .ok <<<"$output")" = false ]
	[ "$(jq -r '.problems | length' <<<"$output")" = 3 ]
	[ "$(jq -r --arg b "blobs/sha256/${top#sha256:}" '.problems[] | select(.blob == $b) | .error' <<<"$output")" = missing ]
	# Nothing was deleted or repaired.
	[ "$(size_of "$cfg")" -eq 10 ] && [ ! -e "$(blob "$top")" ]
}

@test "--check parses manifests and configs strictly" {
	copy_tiny 1 docker.io/library/tiny:1
	m1=$(mdigest docker.io/library/tiny:1)
	mapfile -t r1 < <(refs_of "$m1")
	# A config with a duplicate key, referenced by a manifest with the right digest.
	printf '{"architecture":"amd64","os":"linux","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > cfg.json
	cfg=$(put_blob cfg.json)
	jq -c --arg c "$cfg" --argjson s "$(size_of "$cfg")" '.config.digest = $c | .config.size = $s' \
		"$(blob "$m1")" > m.json
	m=$(put_blob m.json)
	jq -c --arg m "$m" --argjson s "$(size_of "$m")" \
		'.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $s}]' \
		"$IMG_STORE/index.json" > index.new
	mv index.new "$IMG_STORE/index.json"
	run -1 --separate-stderr img-gc --check
	[[ "$stderr" == "img-gc: blobs/sha256/${cfg#sha256:}: "* ]]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "a damaged manifest stops the collection before anything is deleted" {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m2=$(mdigest docker.io/library/tiny:2)
	echo orphan > o
	o=$(put_blob o)
	chmod u+w "$(blob "$m2")"
	echo ' ' >> "$(blob "$m2")"
	run -1 --separate-stderr img-gc
	[[ "$stderr" == *"img-gc: not collecting: "*"${m2#sha256:}"* ]]
	[ -f "$(blob "$o")" ]
	for d in $(refs_of "$m2"); do [ -f "$(blob "$d")" ]; done
}

@test "a missing blob does not stop the collection" {
	copy_tiny 2 docker.io/library/tiny:2
	m2=$(mdigest docker.io/library/tiny:2)
	mapfile -t r2 < <(refs_of "$m2")
	rm "$(blob "${r2[1]}")"
	echo orphan > o
	o=$(put_blob o)
	run -0 img-gc
	[ "$output" = "$(printf 'Deleted: %s\nTotal reclaimed space: 7B' "$o")" ]
	[ -f "$(blob "${r2[2]}")" ]
}

@test "waits for the store lock, says so once" {
	copy_tiny 1 docker.io/library/tiny:1
	mkdir -p "$IMG_STORE/.img"
	flock -s "$IMG_STORE/.img/lock" sleep 2 &
	sleep 0.3
	run -0 --separate-stderr img-gc
	[ "$stderr" = "img-gc: waiting for the store lock" ]
	[ "$output" = "Total reclaimed space: 0B" ]
	wait
}

@test "a write error on stdout fails" {
	copy_tiny 1 docker.io/library/tiny:1
	run -1 --separate-stderr bash -c 'img-gc -n > /dev/full'
	[[ "$stderr" == "img-gc: write error on stdout: No space left on device" ]]
	run -1 bash -c 'img-gc --check --json > /dev/full'
}

# Two writer loops (img-load and img-import, or img-import twice) and one img-gc loop
# for about 15 s; every image a loop reported as loaded and did not remove must be there.
@test "concurrent loads, imports, removals and collections lose nothing" {
	command -v img-import >/dev/null || skip "img-import is not built"
	secs=${IMG_GC_STRESS_SECS:-15}
	mkdir -p rootfs
	end=$(( $(date +%s) + secs ))
	loader() {   # $1: a, b
		local i=0 f name
		while [ "$(date +%s)" -lt "$end" ]; do
			i=$((i + 1))
			name=$1-$i:v
			if [ "$1" = a ] && command -v img-load >/dev/null; then
				f=$PEERS/tiny1-docker.tar
				[ $((i % 2)) = 0 ] && f=$PEERS/tiny2-docker.tar
				img-load -q -t "$name" "$f" >/dev/null 2>>"err.$1" || { echo "load $name failed" >> "err.$1"; continue; }
			else
				mkdir -p "rootfs/$1$i"
				echo "$1 $i" > "rootfs/$1$i/file"
				base=
				[ $((i % 3)) = 0 ] && [ -n "$prev" ] && base="-b $prev"
				img-import -q $base "rootfs/$1$i" "$name" >/dev/null 2>>"err.$1" ||
					{ echo "import $name failed" >> "err.$1"; continue; }
				prev=$name
			fi
			echo "$name" >> "loaded.$1"
			# Remove an older one now and then: garbage for the collector.
			if [ $((i % 4)) = 0 ]; then
				old=$1-$((i - 2)):v
				if grep -qxF "$old" "loaded.$1"; then
					img-rm "$old" >/dev/null 2>>"err.$1" && echo "$old" >> "removed.$1"
				fi
			fi
		done
	}
	collector() {
		local n=0
		while [ "$(date +%s)" -lt "$end" ]; do
			img-gc >/dev/null 2>>err.gc || echo "gc failed" >> err.gc
			n=$((n + 1))
		done
		echo "$n" > gc.runs
	}
	touch loaded.a loaded.b removed.a removed.b
	mkdir rootfs/seed && echo seed > rootfs/seed/file
	img-import -q rootfs/seed seed:v >/dev/null
	echo seed:v >> loaded.b
	loader a & pa=$!
	loader b & pb=$!
	collector & pc=$!
	wait $pa $pb $pc
	grep -v 'waiting for the store lock' err.a err.b err.gc 2>/dev/null | grep . | head -20 | grep . && fail "errors above"
	echo "# loaded $(cat loaded.a loaded.b | wc -l), removed $(cat removed.a removed.b | wc -l), $(cat gc.runs) collections" >&3
	[ "$(cat gc.runs)" -gt 1 ]
	[ "$(wc -l < loaded.a)" -gt 2 ] && [ "$(wc -l < loaded.b)" -gt 2 ]
	run -0 --separate-stderr img-gc --check
	img-ls > ls.out || cat ls.out
	for name in $(sort loaded.a loaded.b | comm -23 - <(sort removed.a removed.b)); do
		d=$(mdigest "docker.io/library/$name")
		[ -n "$d" ] || fail "$name is gone"
	done
	run -0 img-gc
	run -0 img-gc --check
}
