#!/usr/bin/env bats
# img-ls: list the store's images as `docker image ls` does.
bats_require_minimum_version 1.5.0
load ../lib/helper

TINY="$PEERS/src/tiny-rootfs.tar"

blob() { printf '%s/blobs/sha256/%s' "$IMG_STORE" "${1#sha256:}"; }
config_of() { jq -r .config.digest "$(blob "$1")"; }
# Sum of the sizes of the manifest, its config and its layers, from the files.
size_of() {
	local m=$1 total d
	total=$(stat -c %s "$(blob "$m")")
	for d in $(jq -r '.config.digest, .layers[].digest' "$(blob "$m")" | sort -u); do
		total=$((total + $(stat -c %s "$(blob "$d")")))
	done
	echo "$total"
}

# Three images: tiny:1 and tiny:latest (same image), other/app:2 (older), one unnamed.
setup_store() {
	T1=$(img-import -q "$TINY" tiny:1)
	img-import -q "$TINY" tiny >/dev/null
	mkdir d && echo hi > d/f
	A2=$(SOURCE_DATE_EPOCH=1600000000 img-import -q d other/app:2)
	echo unnamed > d/g
	U=$(img-import -q --compress none d)
}

@test "--help on stdout, exit 0; bad option and extra operands exit 2" {
	run --separate-stderr img-ls --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: img-ls "* ]]
	for o in --all --digests --json --no-trunc --quiet --store; do
		[[ "$output" == *"$o"* ]] || fail "--help lacks $o"
	done
	run --separate-stderr img-ls --bogus
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-ls"* ]]
	run -2 img-ls a b
	run -2 img-ls -q --json
}

@test "no store yet: header only, empty -q, empty JSON array, exit 0" {
	run -0 --separate-stderr img-ls
	[ "$output" = "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE" ]
	[ -z "$stderr" ]
	run -0 img-ls -q
	[ -z "$output" ]
	run -0 img-ls --json
	[ "$output" = "[]" ]
	[ ! -e "$IMG_STORE" ]
}

@test "a directory that is not a store: one line, exit 1" {
	mkdir notastore && touch notastore/x
	run -1 --separate-stderr img-ls -S notastore
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "img-ls: "*notastore* ]]
}

@test "columns: short names, tag, 12-hex config ID, age, size of all blobs; newest first" {
	setup_store
	run -0 --separate-stderr img-ls
	[ -z "$stderr" ]
	[ "${#lines[@]}" -eq 4 ]
	id1=$(config_of "$T1" | cut -c8-19)
	id2=$(config_of "$A2" | cut -c8-19)
	[[ "${lines[0]}" =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
	# docker's tabwriter: columns padded to the widest cell + 3, at least 10
	[ "${lines[0]}" = "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE" ]
	read -r repo tag id age <<<"${lines[1]}"
	[ "$repo $tag $id" = "tiny 1 $id1" ]
	[[ "${lines[1]}" == *" years ago   "* ]]
	read -r repo tag id rest <<<"${lines[2]}"
	[ "$repo $tag $id" = "tiny latest $id1" ]
	read -r repo tag id rest <<<"${lines[3]}"
	[ "$repo $tag $id" = "other/app 2 $id2" ]
	# SIZE: 1000-based human units of manifest + config + layers
	s=$(size_of "$T1")
	want=$(awk -v s="$s" 'BEGIN { printf "%.3gMB", s / 1e6 }')
	[[ "${lines[1]}" == *"   $want" ]] || fail "size: want $want in '${lines[1]}'"
	s=$(size_of "$A2")
	[ "$s" -lt 1000 ] || [ "$s" -lt 1000000 ]
	[[ "${lines[3]}" =~ [0-9.]+kB$|[0-9]+B$ ]]
}

@test "-q: IDs one per row in listing order, --no-trunc whole digests" {
	setup_store
	run -0 img-ls -q
	id1=$(config_of "$T1" | cut -c8-19)
	id2=$(config_of "$A2" | cut -c8-19)
	[ "$output" = "$(printf '%s\n%s\n%s' "$id1" "$id1" "$id2")" ]
	run -0 img-ls -q --no-trunc
	[ "${lines[0]}" = "$(config_of "$T1")" ]
	[ "${lines[2]}" = "$(config_of "$A2")" ]
	run -0 img-ls --no-trunc
	[[ "${lines[1]}" == *" $(config_of "$T1") "* ]]
}

@test "PATTERN: a repository, with or without a tag, short or full" {
	setup_store
	run -0 img-ls -q tiny
	[ "${#lines[@]}" -eq 2 ]
	run -0 img-ls tiny:1
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == "tiny "*" 1 "* ]]
	run -0 img-ls docker.io/library/tiny:latest
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[1]}" == "tiny "*" latest "* ]]
	run -0 img-ls other/app
	[ "${#lines[@]}" -eq 2 ]
	run -0 img-ls -q nosuch
	[ -z "$output" ]
	run -0 img-ls -a -q tin
	[ -z "$output" ]
}

@test "-a: unnamed images as <none> <none>" {
	setup_store
	run -0 img-ls
	[[ "$output" != *"<none>"* ]]
	run -0 img-ls -a
	[ "${#lines[@]}" -eq 5 ]
	uid=$(config_of "$U" | cut -c8-19)
	grep -qE "^<none> +<none> +$uid " <<<"$output"
	run -0 img-ls -a -q
	[ "${#lines[@]}" -eq 4 ]
}

@test "--digests: a DIGEST column with the manifest digest" {
	setup_store
	run -0 img-ls --digests
	[[ "${lines[0]}" =~ ^REPOSITORY\ +TAG\ +DIGEST\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
	read -r repo tag dig id <<<"${lines[1]}"
	[ "$dig" = "$T1" ]
	read -r repo tag dig id <<<"${lines[3]}"
	[ "$dig" = "$A2" ]
}

@test "--json: one object per row, checked with jq" {
	setup_store
	run -0 --separate-stderr img-ls -a --json
	j=$output
	[ "$(jq length <<<"$j")" = 4 ]
	[ "$(jq -r '.[0].name' <<<"$j")" = docker.io/library/tiny:1 ]
	[ "$(jq -r '.[0].repository' <<<"$j")" = tiny ]
	[ "$(jq -r '.[0].tag' <<<"$j")" = 1 ]
	[ "$(jq -r '.[0].manifest' <<<"$j")" = "$T1" ]
	[ "$(jq -r '.[0].config' <<<"$j")" = "$(config_of "$T1")" ]
	[ "$(jq -r '.[0].id' <<<"$j")" = "$(config_of "$T1")" ]
	[ "$(jq -r '.[0].created' <<<"$j")" = 2023-11-14T22:13:20Z ]
	[ "$(jq -r '.[0].size' <<<"$j")" = "$(size_of "$T1")" ]
	[ "$(jq -c '.[0].names' <<<"$j")" = '["docker.io/library/tiny:1","docker.io/library/tiny:latest"]' ]
	[ "$(jq -r '.[3].repository + ":" + .[3].tag' <<<"$j")" = other/app:2 ]
	[ "$(jq -r '.[3].created' <<<"$j")" = 2020-09-13T12:26:40Z ]
	[ "$(jq -r '.[2].manifest' <<<"$j")" = "$U" ]      # newest first, unnamed included
	[ "$(jq -r '.[] | select(.manifest == "'"$U"'") | [.name, .repository, .tag] | @json' <<<"$j")" = '[null,null,null]' ]
	run -0 img-ls --json tiny:latest
	[ "$(jq -r '.[].name' <<<"$output")" = docker.io/library/tiny:latest ]
}

@test "names from other tools: registry with a port, a digest reference" {
	T1=$(img-import -q "$TINY" localhost:5000/team/x:v1)
	jq --arg d "$T1" '.manifests += [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d,
		size: (.manifests[0].size), annotations: {"org.opencontainers.image.ref.name": ("docker.io/library/dig@" + $d),
		"io.containerd.image.name": ("docker.io/library/dig@" + $d)}}]' "$IMG_STORE/index.json" > i.json
	mv i.json "$IMG_STORE/index.json"
	run -0 img-ls --digests
	[ "${#lines[@]}" -eq 3 ]
	grep -qE "^dig +<none> +$T1 " <<<"$output"
	grep -qE "^localhost:5000/team/x +v1 +$T1 " <<<"$output"
}

@test "> /dev/full fails; skopeo-written layouts are listed too" {
	run -1 --separate-stderr bash -c 'img-ls > /dev/full'
	[ "$stderr" = "img-ls: write error on stdout: No space left on device" ]
	cp -r "$PEERS/tiny-oci-layout" st
	chmod -R u+w st
	run -0 img-ls -S st
	[ "${#lines[@]}" -eq 3 ]
	grep -qE '^tiny +1 ' <<<"$output"
	grep -qE '^tiny +2 ' <<<"$output"
}

@test "--archive: the images of an archive without loading it, every dialect" {
	run -0 --separate-stderr img-ls --archive "$PEERS/tiny12-multi-docker.tar"
	[ "$(awk 'NR > 1 {print $1, $2, $3, $4}' <<<"$output")" = "tiny 1 - linux/amd64
tiny 2 - linux/amd64" ] || fail "$output"
	run -0 img-ls --archive - < "$PEERS/tiny2-oci.tar"
	[ "$(awk 'NR > 1 {print $1, $2, $3, $4, $5}' <<<"$output")" = \
	  "tiny 2 sha256:8ded9eff6d51b75a32fd1e7ead912fe4ec319961e9378581a02a87acf8aacfaa linux/amd64 1.09MB" ] ||
		fail "$output"
	run -0 img-ls --json --archive "$PEERS/tiny2-docker.tar"
	[ "$(jq -r '.[0].names[0], .[0].config, .[0].size, .[0].platforms[0]' <<<"$output")" = \
	  "docker.io/library/tiny:2
sha256:7d3e3cec81f9670a53936c23992918288fe55e565df4bb9845ab263630aae804
$(( $(tar -xOf "$PEERS/tiny2-docker.tar" manifest.json | jq -r '.[0].Layers[]' | while read -r l; do tar -tvf "$PEERS/tiny2-docker.tar" "$l" | awk '{print $3}'; done | paste -sd+) + 753 ))
linux/amd64" ] || fail "$output"
	run -0 img-ls -q --archive "$PEERS/tiny1-oci.tar"
	[ "$output" = sha256:0a2a3122db41ea792d4559dc10729e941cf70e135918e319973882e369b7f293 ]
	run -2 img-ls --archive "$PEERS/tiny1-oci.tar" tiny
	run -1 --separate-stderr img-ls --archive "$BATS_TEST_TMPDIR/none.tar"
	[ "$(wc -l <<<"$stderr")" = 1 ]
}

@test "--archive of an img-save archive reads its head only: a cut archive lists the same" {
	import_tiny app:1
	mkdir d
	head -c 20000000 /dev/urandom > d/big
	img-import -q --compress none -b app:1 d app:2 >/dev/null
	img-save app:1 app:2 > app.tar
	full=$(img-ls --archive app.tar)
	head -c 4000000 app.tar > cut.tar      # the layers, cut in the middle
	run -0 --separate-stderr img-ls --archive cut.tar
	[ "$output" = "$full" ] || fail "$output"
	[ "$(wc -l <<<"$output")" = 3 ] || fail "$output"
	# the reader of the layers would see the cut
	run -1 img-layers --archive "cut.tar#app:2"
}
