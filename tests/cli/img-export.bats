#!/usr/bin/env bats
# img-export: an image's flattened root filesystem as one tar.
bats_require_minimum_version 1.5.0
load ../lib/helper

treesum() { python3 "$FIX/treesum.py" "$1"; }

load_tiny() {
	img-load -q "$PEERS/tiny1-oci.tar" "$PEERS/tiny2-oci.tar" >/dev/null
}

# Extract tar FILE into DIR keeping owners, modes and xattrs.
untar() {
	mkdir -p "$2"
	tar --xattrs --xattrs-include='*' --numeric-owner -p -C "$2" -xf "$1"
}

@test "--help prints usage and options on stdout" {
	run --separate-stderr img-export --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: img-export "* ]]
	for o in --output --platform --store; do
		[[ "$output" == *"$o"* ]] || fail "--help lacks $o"
	done
}

@test "bad option or operands: usage on stderr, exit 2" {
	run --separate-stderr img-export
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-export"* ]]
	run --separate-stderr img-export a b
	[ "$status" -eq 2 ]
	run --separate-stderr img-export --nope x
	[ "$status" -eq 2 ]
}

@test "tiny:1 and tiny:2: the tar holds the tree umoci unpacks (hard links kept, whiteouts applied)" {
	need umoci
	load_tiny
	for t in 1 2; do
		img-export tiny:$t > t$t.tar
		rm -rf x bundle
		untar t$t.tar x
		umoci unpack --image "$IMG_STORE:docker.io/library/tiny:$t" bundle >/dev/null 2>umoci.err || fail "umoci: $(cat umoci.err)"
		treesum x > got.sum
		treesum bundle/rootfs > want.sum
		[ -s want.sum ]
		diff want.sum got.sum || fail "tiny:$t differs from umoci's tree"
	done
	# tiny:2: the opaque opt/old hides x.txt and y.txt, b.txt is whited out
	tar -tf t2.tar > list
	grep -qx 'opt/old/z.txt' list
	! grep -q 'opt/old/[xy].txt\|b.txt\|\.wh\.' list
	# c.txt and c-link.txt are one inode: one carries the bytes, the other links to it
	tar -tvf t2.tar | grep -q '^h.* usr/share/tiny/c.txt link to usr/share/tiny/c-link.txt$'
	grep -q $'^usr/share/tiny/c.txt\t.*\tusr/share/tiny/c-link.txt$' got.sum
	# names are relative, the root is not listed, parents come first
	! grep -q '^/\|^\./\|^\.$' list
	[ "$(head -1 list)" = bin/ ]
}

@test "the same image gives the same bytes; -o writes the same tar atomically" {
	load_tiny
	img-export tiny:2 > a.tar
	img-export tiny:2 > b.tar
	cmp a.tar b.tar
	img-export -o c.tar tiny:2
	cmp a.tar c.tar
	img-export -S "$IMG_STORE" --output - tiny:2 | cmp a.tar -
	# by ID too
	id=$(img-ls -q tiny:2)
	img-export "$id" | cmp a.tar -
	assert_no_temp .
}

@test "owners, modes, xattrs, devices and FIFOs survive (an imported tree)" {
	sh "$FIX/mktree.sh" tree
	img-import -q tree t:1 >/dev/null
	img-export t:1 > t.tar
	untar t.tar x
	treesum tree > want.sum
	treesum x > got.sum
	diff want.sum got.sum
	grep -q "user.comment=" got.sum
	tar -tvf t.tar | grep -q '^drwx------ 1234/5678 '
}

@test "unknown image, no store: exit 1 and no -o file; a terminal is refused" {
	load_tiny
	run --separate-stderr img-export -o out.tar nope:1
	[ "$status" -eq 1 ]
	[[ "$stderr" == "img-export: no such image: nope:1" ]] || fail "$stderr"
	[ ! -e out.tar ]
	assert_no_temp .
	run --separate-stderr img-export -S "$BATS_TEST_TMPDIR/none" tiny:1
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	run script -qec "img-export tiny:1; echo status=\$?" /dev/null
	[[ "$output" == *"img-export: "*terminal* ]]
	[[ "$output" == *"status=1"* ]]
}

@test "a damaged layer: exit 1 naming it, no -o file" {
	load_tiny
	layer=$(jq -r '.layers[1].digest' "$IMG_STORE/blobs/sha256/$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"]=="docker.io/library/tiny:2") | .digest' "$IMG_STORE/index.json" | cut -d: -f2)" | cut -d: -f2)
	f=$IMG_STORE/blobs/sha256/$layer
	chmod u+w "$f"
	head -c 200 "$f" > cut && cat cut > "$f"
	run --separate-stderr img-export -o out.tar tiny:2
	[ "$status" -eq 1 ]
	[[ "$stderr" == "img-export: out.tar: layer sha256:$layer: "* ]] || fail "$stderr"
	[ ! -e out.tar ]
	assert_no_temp .
}
