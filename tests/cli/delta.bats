#!/usr/bin/env bats
# Delta archives across an air gap (img(7), DELTA ARCHIVES): img-ls --blobs writes the
# have list, img-save --have leaves out the layers it names, img-load takes them from
# its store, img-load --check and img-ls --archive say what was left out.
bats_require_minimum_version 1.5.0
load ../lib/helper

# Side A (store a) has app:1 and app:2 (app:1 plus a 20 MiB layer of random bytes);
# side B (store b) loaded app:1 from a full archive and wrote its have list; A saved app:2
# with --have: delta.tar. Made once: the random layer takes a moment to compress.
setup_file() {
	local F=$BATS_FILE_TMPDIR
	export SOURCE_DATE_EPOCH=1700000000
	cd "$F"
	img-import -q -S a "$PEERS/src/tiny-rootfs.tar" app:1 >/dev/null
	img-save -S a app:1 > full1.tar
	img-load -q -S b full1.tar >/dev/null
	img-ls -S b --blobs > have.txt
	mkdir d
	head -c 20971520 /dev/urandom > d/big
	img-import -q -S a -b app:1 d app:2 >/dev/null
	img-save -S a --have have.txt app:2 > delta.tar
	img-save -S a app:2 > full2.tar
}
F=$BATS_FILE_TMPDIR

# The layer digests of app:N in store a, one a line.
layers() {
	img-inspect -S "$F/a" --raw "app:$1" | jq -r '.layers[].digest'
}
# The manifest digest of app:2 in store DIR.
manifest_of() {
	img-ls -S "$1" --json app:2 | jq -r '.[0].manifest'
}
# Everything in a store: paths, sizes, and index.json's bytes.
listing() {
	(cd "$1" && find . -printf '%p %s\n' | sort && cat index.json)
}

@test "--blobs: the store's blob digests, sorted, one a line; --json with sizes" {
	run -0 img-ls -S "$F/a" --blobs
	[ "$output" = "$(cd "$F/a/blobs" && ls sha256 | sed 's/^/sha256:/' | sort)" ] || fail "$output"
	[ "${#lines[@]}" -ge 6 ]
	[ -z "$(grep -vE '^sha256:[0-9a-f]{64}$' <<<"$output")" ] || fail "not digests: $output"
	run -0 img-ls -S "$F/a" --blobs --json
	local d s
	d=$(layers 2 | tail -n1)
	s=$(stat -c %s "$F/a/blobs/sha256/${d#sha256:}")
	[ "$(jq -r --arg d "$d" '.[] | select(.digest == $d) | .size' <<<"$output")" = "$s" ]
	run -0 img-ls -S "$BATS_TEST_TMPDIR/none" --blobs
	[ -z "$output" ]
	run -2 img-ls -S "$F/a" --blobs app
	run -2 img-ls --blobs --archive "$F/delta.tar"
}

@test "a delta carries only the new layer; the other side loads it and has the same image" {
	local l1 l2 size
	l1=$(layers 2 | head -n1)
	l2=$(layers 2 | tail -n1)
	[ "$l1" = "$(layers 1)" ]
	size=$(img-inspect -S "$F/a" --raw app:2 | jq '.layers[-1].size')
	# smaller than the new layer and 64 KiB: the old layer is not in it
	[ "$(stat -c %s "$F/delta.tar")" -lt $((size + 65536)) ] || fail "$(stat -c %s "$F/delta.tar")"
	run -0 tar -tf "$F/delta.tar"
	[[ "$output" == *"blobs/sha256/${l2#sha256:}"* ]]
	[[ "$output" != *"${l1#sha256:}"* ]] || fail "$output"
	# index.json says what it left out; manifest.json still lists every layer
	run -0 tar -xOf "$F/delta.tar" index.json
	[ "$(jq -r '.annotations["org.img.delta.missing"]' <<<"$output")" = \
	  "$l1=$(img-inspect -S "$F/a" --raw app:2 | jq '.layers[0].size')" ] || fail "$output"
	run -0 tar -xOf "$F/delta.tar" manifest.json
	[ "$(jq -r '.[0].Layers | length' <<<"$output")" = 2 ]

	cp -a "$F/b" b
	run -0 --separate-stderr img-load -S b "$F/delta.tar"
	[ "$output" = "Loaded image: app:2" ] || fail "$output $stderr"
	[ "$(manifest_of b)" = "$(manifest_of "$F/a")" ]
	[ "$(img-inspect -S b --raw app:2 | sha256sum)" = "$(img-inspect -S "$F/a" --raw app:2 | sha256sum)" ]
	run -0 img-diff -S b "archive:$F/full2.tar#app:2" app:2
	run -0 img-gc -S b --check
	assert_no_temp b
}

@test "the same delta into a store without the old layer: fails naming it, changes nothing" {
	local l1 before
	l1=$(layers 1)
	img-import -q -S e "$PEERS/src/tiny-rootfs.tar" x:1 >/dev/null
	img-rm -S e x:1 >/dev/null
	[ -z "$(img-ls -S e --blobs)" ]
	before=$(listing e)
	run -1 --separate-stderr img-load -S e "$F/delta.tar"
	[ -z "$output" ]
	[ "$(wc -l <<<"$stderr")" = 1 ] || fail "$stderr"
	[[ "$stderr" == *"not in the store: $l1"* ]] || fail "$stderr"
	[ "$(listing e)" = "$before" ]
	run -0 img-gc -S e --check
	assert_no_temp e
	# the have list is all it takes: with app:1 there, it loads
	img-load -q -S e "$F/full1.tar" >/dev/null
	run -0 img-load -S e "$F/delta.tar"
	[ "$output" = "Loaded image: app:2" ]
}

@test "--check: left-out layers fail unless --allow-missing; a damaged delta fails anyway" {
	local l1 s1
	l1=$(layers 1)
	s1=$(img-inspect -S "$F/a" --raw app:2 | jq '.layers[0].size')
	run -1 --separate-stderr img-load --check "$F/delta.tar"
	[[ "$stderr" == *"left out of it (--allow-missing accepts that): $l1" ]] || fail "$stderr"
	run -0 --separate-stderr img-load --check --allow-missing "$F/delta.tar"
	[ "$output" = "Verified image: app:2
Left out: $l1 ($s1 bytes)" ] || fail "$output"
	run -0 img-load --check --allow-missing --json "$F/delta.tar"
	[ "$(jq -r '.images[0].layers[] | select(.leftOut) | .digest' <<<"$output")" = "$l1" ]
	[ "$(jq -r '.images[0].layers[1].leftOut' <<<"$output")" = null ]
	run -2 img-load --allow-missing "$F/delta.tar"

	# the layer it carries, damaged
	mkdir x
	tar -xf "$F/delta.tar" -C x
	local l2 f
	l2=$(layers 2 | tail -n1)
	f=x/blobs/sha256/${l2#sha256:}
	printf 'XXXXXXXX' | dd of="$f" bs=1 seek=1000 conv=notrunc 2>/dev/null
	[ "sha256:$(sha256sum < "$f" | cut -c1-64)" != "$l2" ]
	(cd x && tar -cf ../bad.tar oci-layout index.json manifest.json repositories blobs)
	run -1 --separate-stderr img-load --check --allow-missing bad.tar
	[[ "$stderr" == *"${l2#sha256:}: digest mismatch"* ]] || fail "$stderr"
	# a layer missing without being declared left out is an error, as in any archive
	rm "$f"
	(cd x && tar -cf ../undeclared.tar oci-layout index.json manifest.json repositories blobs)
	run -1 --separate-stderr img-load --check --allow-missing undeclared.tar
	[[ "$stderr" == *"${l2#sha256:}: missing from the archive"* ]] || fail "$stderr"
	# declared with another size: refused
	tar -xf "$F/delta.tar" -C x blobs
	jq -c --arg v "$l1=$((s1 + 1))" '.annotations["org.img.delta.missing"] = $v' \
		"x/index.json" > x/i && mv x/i x/index.json
	(cd x && tar -cf ../size.tar oci-layout index.json manifest.json repositories blobs)
	run -1 --separate-stderr img-load --check --allow-missing size.tar
	[[ "$stderr" == *"$l1: left out with size $((s1 + 1)), but the descriptor says $s1"* ]] ||
		fail "$stderr"
	jq -c '.annotations["org.img.delta.missing"] = "sha256:x=1"' x/index.json > x/i &&
		mv x/i x/index.json
	(cd x && tar -cf ../bad-ann.tar oci-layout index.json manifest.json repositories blobs)
	run -1 --separate-stderr img-load --check --allow-missing bad-ann.tar
	[[ "$stderr" == *"index.json: annotation org.img.delta.missing: item 1: invalid digest"* ]] ||
		fail "$stderr"
}

@test "skopeo sees a valid layout and fails naming the left-out blob" {
	need skopeo
	run -1 --separate-stderr skopeo copy "oci-archive:$F/delta.tar:docker.io/library/app:2" oci:out:app
	[[ "$stderr" == *"$(layers 1)"* ]] || fail "$stderr"
	run -0 skopeo copy "oci-archive:$F/full2.tar:docker.io/library/app:2" oci:out:app
}

@test "--archive shows the left-out blobs: a LEFT OUT column and leftOut in --json" {
	local l1 s1
	l1=$(layers 1)
	s1=$(img-inspect -S "$F/a" --raw app:2 | jq '.layers[0].size')
	run -0 img-ls --archive "$F/delta.tar"
	[ "$(head -n1 <<<"$output" | awk '{print $NF, $(NF-1)}')" = "OUT LEFT" ] || fail "$output"
	[ "$(tail -n1 <<<"$output" | awk '{print $1, $2, $NF}')" = "app 2 1.14MB" ] || fail "$output"
	run -0 img-ls --json --archive - < "$F/delta.tar"
	[ "$(jq -c '.[0].leftOut' <<<"$output")" = "[{\"digest\":\"$l1\",\"size\":$s1}]" ] || fail "$output"
	# a whole archive: no such column, an empty list
	run -0 img-ls --archive "$F/full2.tar"
	[[ "$output" != *"LEFT OUT"* ]] || fail "$output"
	run -0 img-ls --json --archive "$F/full2.tar"
	[ "$(jq -c '.[0].leftOut' <<<"$output")" = "[]" ]
	# readers of layers name the blob the archive left out
	run -1 --separate-stderr img-layers --archive "$F/delta.tar"
	[[ "$stderr" == *"$l1: left out of this delta archive"* ]] || fail "$stderr"
}

@test "--have from stdin; a have list without those layers gives the whole archive" {
	img-ls -S "$F/b" --blobs | img-save -S "$F/a" --have - app:2 > d2.tar
	cmp d2.tar "$F/delta.tar"
	# comments, blank lines, blanks around a digest
	{ echo '# the have list'; echo; sed 's/^/  /; s/$/\t/' "$F/have.txt"; } > h
	img-save -S "$F/a" --have h app:2 > d3.tar
	cmp d3.tar "$F/delta.tar"
	# nothing named is a layer of app:2: the bytes of a save without --have
	img-inspect -S "$F/a" --raw app:2 | jq -r '.config.digest' > h
	img-save -S "$F/a" --have h app:2 > whole.tar
	cmp whole.tar "$F/full2.tar"
	: > h
	img-save -S "$F/a" --have h -o whole2.tar app:2
	cmp whole2.tar "$F/full2.tar"
}

@test "--have: a malformed line is an error naming its number, nothing written" {
	printf '%s\n\nnot-a-digest\n' "$(layers 1)" > h
	run -1 --separate-stderr img-save -S "$F/a" --have h -o out.tar app:2
	[ "$stderr" = "img-save: --have h: line 3: invalid digest 'not-a-digest'" ] || fail "$stderr"
	[ ! -e out.tar ]
	run -1 --separate-stderr img-save -S "$F/a" --have - -o out.tar app:2 <<<"sha256:abc"
	[ "$stderr" = "img-save: --have stdin: line 1: invalid digest 'sha256:abc'" ] || fail "$stderr"
	run -1 --separate-stderr img-save -S "$F/a" --have nothing.txt -o out.tar app:2
	[[ "$stderr" == *"nothing.txt"* ]] || fail "$stderr"
	[ ! -e out.tar ]
}

@test "--archive of a 750 MB img-save archive reads its head only (under 0.1 s)" {
	local t0 t1 ms try
	mkdir big
	truncate -s 750M big/zero
	img-import -q -S s --compress none big big:1 >/dev/null
	rm big/zero
	# holes where the layer's zeros are: the archive costs no disk
	img-save -S s big:1 | cp --sparse=always /dev/stdin big.tar
	rm -rf s
	[ "$(stat -c %s big.tar)" -gt 786432000 ]
	for try in 1 2 3; do
		t0=$(date +%s%N)
		run -0 img-ls --archive big.tar
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000000 ))
		[ "$ms" -lt 100 ] && break
	done
	rm big.tar
	[ "$ms" -lt 100 ] || fail "img-ls --archive took $ms ms"
	[ "$(tail -n1 <<<"$output" | awk '{print $1, $2, $NF}')" = "big 1 786MB" ] || fail "$output"
}
