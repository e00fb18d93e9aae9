#!/usr/bin/env bats
# img-rm: untag versus delete (formats.md §7.3), pruning, conflicts, several operands.
bats_require_minimum_version 1.5.0
load ../lib/helper

copy_tiny() {
	need skopeo
	skopeo copy -q "oci:$PEERS/tiny-oci-layout:tiny:$1" "oci:$IMG_STORE:$2"
}

# Import a one-file image: NAME [TEXT].
import_one() {
	mkdir -p "rootfs/$1"
	echo "${2:-$1}" > "rootfs/$1/file"
	img-import -q "rootfs/$1" "$1" >/dev/null
}

# The manifest digest of the entry whose name is NAME (canonical).
mdigest() {
	jq -r --arg n "$1" '[.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest] | first // empty' \
		"$IMG_STORE/index.json"
}

refs_of() {
	jq -r '.config.digest, .layers[].digest' "$IMG_STORE/blobs/sha256/${1#sha256:}"
}

blob() { printf '%s\n' "$IMG_STORE/blobs/sha256/${1#sha256:}"; }

names() {
	jq -r '.manifests[] | .annotations["org.opencontainers.image.ref.name"] // "-"' "$IMG_STORE/index.json"
}

@test "usage: --help, a bad option, no operand" {
	run -0 --separate-stderr img-rm --help
	[ "${lines[0]}" = "usage: img-rm [-f] [-S DIR] [--no-prune] IMAGE..." ]
	[[ "$output" == *--no-prune* && "$output" == *--force* ]]
	run -2 --separate-stderr img-rm
	[[ "$stderr" == "usage: img-rm "* ]]
	run -2 --separate-stderr img-rm --bogus x
	[ -z "$output" ]
	run -0 img-rm --version
	[ "$output" = "img-rm 0.1.0" ]
}

@test "a missing store is an error" {
	run -1 --separate-stderr img-rm -S "$BATS_TEST_TMPDIR/nowhere" nginx
	[[ "$stderr" == "img-rm: no image store at $BATS_TEST_TMPDIR/nowhere"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

# The seed: docker image rm $(docker image ls -q mysql).
@test "img-rm \$(img-ls -q mysql) leaves only nginx, and nothing for img-gc" {
	import_one mysql:5.6
	import_one mysql:5.7
	import_one nginx
	img-tag mysql:5.7 mysql:latest         # two names of one image: its ID is listed twice
	run -0 img-ls -q mysql
	[ "${#lines[@]}" -ge 2 ]
	ids=$output
	before=$(ls "$IMG_STORE/blobs/sha256" | wc -l)
	run -0 --separate-stderr img-rm $ids
	[ -z "$stderr" ]
	[ "$(grep -c '^Untagged: ' <<<"$output")" -eq 3 ]
	grep -qx 'Untagged: mysql:5.6' <<<"$output"
	grep -qx 'Untagged: mysql:5.7' <<<"$output"
	grep -qx 'Untagged: mysql:latest' <<<"$output"
	# Two images of manifest, config and layer each.
	[ "$(grep -c '^Deleted: sha256:' <<<"$output")" -eq 6 ]
	[ "$(ls "$IMG_STORE/blobs/sha256" | wc -l)" -eq $((before - 6)) ]
	run -0 img-ls
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == "nginx "*latest* ]]
	run -0 img-ls -q mysql
	[ -z "$output" ]
	run -0 img-gc -n
	[ "$output" = "Total reclaimed space: 0B" ]
	run -0 img-gc --check
}

@test "by name: only the name goes while the image has others" {
	import_one app:1
	img-tag app:1 app:latest
	d=$(mdigest docker.io/library/app:1)
	before=$(ls "$IMG_STORE/blobs/sha256")
	run -0 --separate-stderr img-rm app:1
	[ "$output" = "Untagged: app:1" ]
	[ "$(ls "$IMG_STORE/blobs/sha256")" = "$before" ]
	[ "$(names)" = "docker.io/library/app:latest" ]
	[ "$(mdigest docker.io/library/app:latest)" = "$d" ]
}

@test "by name: the last name deletes the image and the blobs only it used" {
	need skopeo
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m1=$(mdigest docker.io/library/tiny:1)
	m2=$(mdigest docker.io/library/tiny:2)
	mapfile -t r2 < <(refs_of "$m2")
	run -0 --separate-stderr img-rm docker.io/library/tiny:2
	[ "$output" = "$(printf 'Untagged: tiny:2\nDeleted: %s\nDeleted: %s\nDeleted: %s' "$m2" "${r2[0]}" "${r2[2]}")" ]
	[ -f "$(blob "${r2[1]}")" ]               # the shared base layer stays
	[ "$(names)" = "docker.io/library/tiny:1" ]
	run -0 skopeo inspect "oci:$IMG_STORE:docker.io/library/tiny:1"
	[ "$(jq -r .Digest <<<"$output")" = "$m1" ]
	run -0 img-gc -n
	[ "$output" = "Total reclaimed space: 0B" ]
}

@test "--no-prune removes the entries and keeps the blobs for img-gc" {
	import_one a:1
	d=$(mdigest docker.io/library/a:1)
	before=$(ls "$IMG_STORE/blobs/sha256")
	run -0 img-rm --no-prune a:1
	[ "$output" = "Untagged: a:1" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
	[ "$(ls "$IMG_STORE/blobs/sha256")" = "$before" ]
	run -0 img-gc
	[ "$(grep -c '^Deleted: ' <<<"$output")" -eq 3 ]
	grep -qx "Deleted: $d" <<<"$output"
}

@test "by ID: names in one repository go without -f" {
	import_one db:1
	img-tag db:1 db:2
	d=$(mdigest docker.io/library/db:1)
	run -0 img-rm "${d:7:12}"
	[ "$(sed -n 1,2p <<<"$output" | sort)" = "$(printf 'Untagged: db:1\nUntagged: db:2')" ]
	[ "${lines[2]}" = "Deleted: $d" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
}

@test "by ID: names in several repositories need -f" {
	import_one db:1
	img-tag db:1 backup/db:1
	d=$(mdigest docker.io/library/db:1)
	cp "$IMG_STORE/index.json" index.before
	run -1 --separate-stderr img-rm "${d:7:12}"
	[ -z "$output" ]
	[ "$stderr" = "img-rm: conflict: unable to delete ${d:7:12} (must be forced) - image is referenced in multiple repositories" ]
	cmp index.before "$IMG_STORE/index.json"
	[ -f "$(blob "$d")" ]
	run -0 img-rm -f "$d"
	grep -qx 'Untagged: db:1' <<<"$output"
	grep -qx 'Untagged: backup/db:1' <<<"$output"
	grep -qx "Deleted: $d" <<<"$output"
	[ ! -e "$(blob "$d")" ]
	# By name, no -f is needed: only that name goes.
	import_one x:1 same
	img-tag x:1 other/x:1
	run -0 img-rm x:1
	[ "$output" = "Untagged: x:1" ]
}

@test "by digest and by name@digest" {
	import_one a:1
	import_one b:1
	a=$(mdigest docker.io/library/a:1)
	b=$(mdigest docker.io/library/b:1)
	run -0 img-rm "$a"
	[ "${lines[0]}" = "Untagged: a:1" ]
	[ "${lines[1]}" = "Deleted: $a" ]
	run -0 img-rm "b@$b"
	[ "${lines[0]}" = "Untagged: b:1" ]
	[ "${lines[1]}" = "Deleted: $b" ]
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
}

@test "keeps going after a bad operand and exits 1" {
	import_one a:1
	import_one b:1
	run -1 --separate-stderr img-rm nosuch:1 a:1 'Bad:Name' b:1 0000deadbeef
	grep -qx 'Untagged: a:1' <<<"$output"
	grep -qx 'Untagged: b:1' <<<"$output"
	[ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
	grep -q '^img-rm: no such image: nosuch:1$' <<<"$stderr"
	grep -q '^img-rm: .*0000deadbeef' <<<"$stderr"
	[ "${#stderr_lines[@]}" -eq 3 ]
	# The same name twice: the second is an error (it is gone), as with docker.
	import_one c:1
	run -1 --separate-stderr img-rm c:1 c:1
	[ "$stderr" = "img-rm: no such image: c:1" ]
}

@test "an ID given twice is removed once, without an error" {
	import_one a:1
	d=$(mdigest docker.io/library/a:1)
	cfg=$(refs_of "$d" | head -1)
	run -0 --separate-stderr img-rm "${cfg:7:12}" "${cfg:7:12}" "$d"
	[ -z "$stderr" ]
	[ "$(grep -c '^Untagged: a:1$' <<<"$output")" -eq 1 ]
	[ "$(grep -c "^Deleted: $d\$" <<<"$output")" -eq 1 ]
}

@test "a blob another entry reaches stays, even when that entry is unnamed" {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m2=$(mdigest docker.io/library/tiny:2)
	mapfile -t r2 < <(refs_of "$m2")
	# tiny:1's entry loses its name: a dangling image, still a root.
	jq -c '.manifests |= map(if .annotations["org.opencontainers.image.ref.name"] == "docker.io/library/tiny:1" then del(.annotations) else . end)' \
		"$IMG_STORE/index.json" > i.new && mv i.new "$IMG_STORE/index.json"
	run -0 img-rm tiny:2
	[ "$(grep -c '^Deleted: ' <<<"$output")" -eq 3 ]
	[ -f "$(blob "${r2[1]}")" ]
	run -0 img-gc --check
}

@test "an image with a damaged manifest elsewhere: nothing is pruned" {
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 2 docker.io/library/tiny:2
	m1=$(mdigest docker.io/library/tiny:1)
	m2=$(mdigest docker.io/library/tiny:2)
	chmod u+w "$(blob "$m1")"
	echo ' ' >> "$(blob "$m1")"
	run -1 --separate-stderr img-rm tiny:2
	[ "$output" = "Untagged: tiny:2" ]
	[[ "$stderr" == "img-rm: not pruning: "*"${m1#sha256:}"* ]]
	for d in "$m2" $(refs_of "$m2"); do [ -f "$(blob "$d")" ]; done
}

@test "waits for the store lock, says so once" {
	import_one a:1
	flock -s "$IMG_STORE/.img/lock" sleep 2 &
	sleep 0.3
	run -0 --separate-stderr img-rm a:1
	[ "$stderr" = "img-rm: waiting for the store lock" ]
	[ "$(grep -c '^Deleted: ' <<<"$output")" -eq 3 ]
	wait
}

@test "an entry with a foreign name (a bare tag) keeps its image" {
	need skopeo
	copy_tiny 1 docker.io/library/tiny:1
	copy_tiny 1 v3
	m1=$(mdigest docker.io/library/tiny:1)
	[ "$(mdigest v3)" = "$m1" ]
	before=$(ls "$IMG_STORE/blobs/sha256")
	run -0 img-rm tiny:1
	[ "$output" = "Untagged: tiny:1" ]
	[ "$(names)" = "v3" ]
	[ "$(ls "$IMG_STORE/blobs/sha256")" = "$before" ]
	run -0 skopeo inspect "oci:$IMG_STORE:v3"
}
