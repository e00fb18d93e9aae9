#!/usr/bin/env bats
# Hostile input (design.md §5, formats.md §5.3, §9): archives and layers built to escape,
# loop, exhaust or confuse img-load, img-layers, img-diff and img-import. Each is refused
# with one line that names the entry (escaped), and the store stays as it was.
bats_require_minimum_version 1.5.0
load ../lib/helper

MODES="ok symout symloop symchain hardout weird dup dupdiff cfgdotdot cfgabs layerdir negsize
dupdir hugesize upperhex dotdigest deepjson dupkey bigindex cycle nest9 nest8 ndiff mtindex bomb empty
chain3 hardin dotslash L-dotdot L-abs L-opqroot L-whempty L-symdir L-hardlater L-hardout L-weird
R-symroot R-hardout R-dotdot R-dev R-long R-nonutf8 R-weird"

# Every archive made once (python starts slowly; the bomb takes a second).
setup_file() {
	local m args=()
	for m in $MODES; do
		args+=("$m=$BATS_FILE_TMPDIR/$m.tar")
	done
	python3 "$FIX/hostile.py" "$PEERS" "${args[@]}"
	zstd -q -c "$BATS_FILE_TMPDIR/ok.tar" | head -c 300000 > "$BATS_FILE_TMPDIR/trunc.tar.zst"
}
A=$BATS_FILE_TMPDIR
# the tiny:1 layer (its diff_id) and the config hostile.py writes for it
LH=eeccac13f4af67267c79419df48707b8de063ac0185b22b2b42895e1aeedc9f6
CH=5393c4dcf76c06aa0da8608d43a90ca617e119e2f3ec0b2c2195a63ae52fee46

# $stderr is one line, holds MSG, and has no raw control byte (escape sequences escaped).
one_line() {
	local msg=$1
	[[ $stderr == *"$msg"* ]] || fail "stderr: $stderr (wanted: $msg)"
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || fail "not one line: $stderr"
	! printf '%s' "$stderr" | LC_ALL=C grep -q '[[:cntrl:]]' || fail "raw control bytes: $stderr"
}

# What the archive tools must say for each hostile archive: MODE|img-layers and
# img-diff message|img-load message.
refusals() {
	cat <<EOF
symout|'blobs/sha256/$LH': a symbolic link out of the archive|blobs/sha256/$LH: is a symbolic link
symloop|'blobs/sha256/$LH': too many levels of links|blobs/sha256/$LH: is a symbolic link
symchain|'blobs/sha256/$LH': too many levels of links|blobs/sha256/$LH: is a symbolic link
hardout|hard link 'blobs/sha256/$LH': path '../../etc/passwd' contains '..'|hard link 'blobs/sha256/$LH': path '../../etc/passwd' contains '..'
weird|layer evil\\012\\033[31mred.tar: not in the archive|layer evil\\012\\033[31mred.tar: not in the archive
dup|'blobs/sha256/$LH': duplicate entry|blobs/sha256/$LH: duplicate entry
dupdiff|'blobs/sha256/$CH': duplicate entry|blobs/sha256/$CH: duplicate entry
cfgdotdot|manifest.json: config: path '../x' contains '..'|manifest.json: config: path '../x' contains '..'
cfgabs|manifest.json: config: absolute path '/etc/passwd'|manifest.json: config: absolute path '/etc/passwd'
layerdir|layer l: a directory, not a file|layer l: a directory, not a file
negsize|layers[0]: 'size' out of range (-1)|layers[0]: 'size' out of range (-1)
hugesize|layers[0]: 'size' out of range (1152921504606846976)|layers[0]: 'size' out of range (1152921504606846976)
upperhex|layers[0]: invalid digest 'sha256:EECCAC13F4AF|layers[0]: invalid digest 'sha256:EECCAC13F4AF
dotdigest|layers[0]: invalid digest 'sha256:../../x'|layers[0]: invalid digest 'sha256:../../x'
deepjson|manifest.json: JSON nested deeper than 64 levels|manifest.json: JSON nested deeper than 64 levels
dupkey|manifest.json: invalid JSON: duplicate object key near '"Config"'|manifest.json: invalid JSON: duplicate object key near '"Config"'
bigindex|index.json: larger than 16777216 bytes|index.json: larger than 16777216 bytes
cycle|blob sha256:0000000000000000000000000000000000000000000000000000000000000001: digest mismatch|blobs/sha256/0000000000000000000000000000000000000000000000000000000000000001: digest mismatch
nest9|indexes nested too deep|indexes nested more than 8 deep
ndiff|layers length mismatch: 1 in manifest.json, 2 diff_ids|c.json: 2 diff_ids, but manifest.json lists 1 layers
mtindex|image index has 'config' or 'layers'|image index has 'config' or 'layers'
empty|not a tar archive (empty input)|not a tar archive (empty input)
EOF
}

@test "img-layers --archive and img-diff refuse hostile archives with one escaped line" {
	local mode msg lmsg f
	refusals > list
	echo "trunc|'blobs/sha256/$LH': truncated archive|truncated" >> list
	while IFS='|' read -r mode msg lmsg; do
		f=$A/$mode.tar
		[ "$mode" = trunc ] && f=$A/trunc.tar.zst
		run -1 --separate-stderr img-layers --archive "$f"
		[ -z "$output" ] || fail "$mode: stdout: $output"
		one_line "img-layers: $f: $msg"
		run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$f"
		[ -z "$output" ] || fail "$mode: stdout: $output"
		one_line "img-diff: $f: $msg"
	done < list
	# the same archives read from stdin
	run -1 --separate-stderr img-layers --archive - < "$A/symout.tar"
	one_line "img-layers: stdin: 'blobs/sha256/$LH': a symbolic link out of the archive"
}

@test "img-load refuses hostile archives with one escaped line, the store unchanged" {
	local mode msg lmsg f
	img-load -q "$PEERS/tiny2-oci.tar" >/dev/null
	mkdir -p "$IMG_STORE/.img/tmp"
	snapshot() {
		cat "$IMG_STORE/index.json"
		(cd "$IMG_STORE" && find . -path ./.img/lock -prune -o -print | sort)
	}
	snapshot > before
	refusals > list
	echo "trunc|truncated|truncated" >> list
	while IFS='|' read -r mode msg lmsg; do
		f=$A/$mode.tar
		[ "$mode" = trunc ] && f=$A/trunc.tar.zst
		run -1 --separate-stderr img-load -q "$f"
		[ -z "$output" ] || fail "$mode: stdout: $output"
		one_line "$lmsg"
		run -1 --separate-stderr img-load --check -q "$f"
		one_line "$lmsg"
	done < list
	snapshot > after
	diff before after || fail "the store changed"
}

@test "an archive's top documents: img-load, img-ls --archive and img-layers refuse alike" {
	# tiny:1 as docker saved it, with one of index.json, oci-layout, manifest.json or
	# repositories made wrong (arcread's img_arcread_top, shared by all three)
	python3 - "$PEERS/tiny1-docker.tar" "$A" <<'PY'
import io, json, sys, tarfile
src = tarfile.open(sys.argv[1])
def make(name, drop=(), add=()):
    t = tarfile.open(f"{sys.argv[2]}/top-{name}.tar", "w")
    for m in src.getmembers():
        if m.name not in drop:
            t.addfile(m, src.extractfile(m) if m.isreg() else None)
    for n, body, link in add:
        ti = tarfile.TarInfo(n)
        if link:
            ti.type, ti.linkname = tarfile.SYMTYPE, link
        else:
            ti.size = len(body)
        t.addfile(ti, io.BytesIO(body) if body else None)
    t.close()
man = json.loads(src.extractfile("manifest.json").read())
make("layout", add=[("oci-layout", b'{"imageLayoutVersion":"2.0.0"}', "")])
make("schema", add=[("index.json", b'{"schemaVersion":3,"manifests":[]}', "")])
make("indexcfg", add=[("index.json", b'{"schemaVersion":2,"manifests":[],"layers":[]}', "")])
make("symindex", add=[("index.json", b"", "manifest.json")])
make("repos", drop=("manifest.json",))
man[0]["RepoTags"] = ["Bad:Name"]
make("badtag", drop=("manifest.json",), add=[("manifest.json", json.dumps(man).encode(), "")])
man[0]["RepoTags"] = ["x@sha256:" + "a" * 64]
make("digesttag", drop=("manifest.json",), add=[("manifest.json", json.dumps(man).encode(), "")])
man[0]["RepoTags"] = [1]
make("tags", drop=("manifest.json",), add=[("manifest.json", json.dumps(man).encode(), "")])
del man[0]["Layers"]
make("nolayers", drop=("manifest.json",), add=[("manifest.json", json.dumps(man).encode(), "")])
PY
	local name msg
	while IFS='|' read -r name msg; do
		run -1 --separate-stderr img-load -q "$A/top-$name.tar"
		[ "$stderr" = "img-load: $msg" ] || fail "$name: load: $stderr"
		run -1 --separate-stderr img-ls --archive "$A/top-$name.tar"
		[ "$stderr" = "img-ls: $A/top-$name.tar: $msg" ] || fail "$name: ls: $stderr"
		run -1 --separate-stderr img-layers --archive "$A/top-$name.tar"
		[ "$stderr" = "img-layers: $A/top-$name.tar: $msg" ] || fail "$name: layers: $stderr"
	done <<'EOF'
layout|oci-layout: unsupported layout version (want imageLayoutVersion 1.0.0)
schema|index.json: schemaVersion is not 2
indexcfg|index.json: has 'config' or 'layers'
symindex|index.json: is a symbolic link
repos|a legacy archive with only 'repositories' (no manifest.json) is not supported
tags|manifest.json: item 0: RepoTags[0] is not a string
badtag|manifest.json: RepoTags 'Bad:Name': repository name must be lowercase
digesttag|manifest.json: RepoTags 'x@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa': not a name:tag
nolayers|manifest.json: item 0: needs Config and Layers
EOF
}

@test "img-load reads indexes nested 8 deep, as the store and img-layers do" {
	# index.json -> 8 index blobs -> a manifest: IMG_MAX_INDEX_DEPTH counts the index
	# blobs below index.json (common/store.c, arcimg.c); 9 are refused (above)
	img-layers --archive "$A/nest8.tar" >/dev/null
	run -0 --separate-stderr img-load -q "$A/nest8.tar"
	[ "$output" = "Loaded image: hostile:1" ]
	run -0 img-layers --json hostile:1
	[ "$(jq -r '.layers[0].diff_id' <<<"$output")" = "sha256:$LH" ]
	# --platform walks the same indexes
	run -0 --separate-stderr img-load -q --platform linux/amd64 "$A/nest8.tar"
	[ "$output" = "Loaded image: hostile:1" ]
	run -1 --separate-stderr img-load -q --platform linux/amd64 "$A/nest9.tar"
	one_line "indexes nested more than 8 deep"
}

@test "a layer reached through a chain of relative symlinks, directories listed twice: read" {
	run -0 img-load --check -q "$A/chain3.tar"
	[ "$output" = "Verified image: hostile:1" ]
	run -0 img-layers --archive "$A/chain3.tar" --json
	[ "$(jq -r '.layers[0].diff_id' <<<"$output")" = "sha256:$LH" ]
	run -0 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/chain3.tar"
	[ -z "$output" ]
	[ -z "$stderr" ]
	run -0 img-layers --archive "$A/nest8.tar"
	run -0 img-load --check -q "$A/dupdir.tar"
	run -0 img-layers --archive "$A/dupdir.tar"
	run -0 img-diff "archive:$A/ok.tar" "archive:$A/dupdir.tar"
}

# Write archive OUT from the tiny:1 config and layer of $A/hardin.tar: each further
# argument is an entry, NAME=SOURCE (a file with SOURCE's bytes: c or l), NAME@TARGET
# (a hard link), NAME~TARGET (a symlink); with -m CONFIG,LAYER... a manifest.json last.
mkarc() {
	python3 - "$A/hardin.tar" "$@" <<'PY'
import io, json, sys, tarfile
src = tarfile.open(sys.argv[1])
data = {"c": src.extractfile("c.json").read(), "l": src.extractfile("v1/layer.tar").read()}
args, man = sys.argv[3:], None
if "-m" in args:
    i = args.index("-m")
    cfg, *layers = args[i + 1].split(",")
    man, args = [{"Config": cfg, "RepoTags": ["hostile:1"], "Layers": layers}], args[:i]
t = tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT)
def add(name, kind, body=b"", link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size, ti.mode = kind, link, len(body), 0o644
    t.addfile(ti, io.BytesIO(body) if body else None)
for a in args:
    if "@" in a:
        n, v = a.split("@", 1)
        add(n, tarfile.LNKTYPE, link=v)
    elif "~" in a:
        n, v = a.split("~", 1)
        add(n, tarfile.SYMTYPE, link=v)
    else:
        n, v = a.split("=", 1)
        add(n, tarfile.REGTYPE, data[v])
if man is not None:
    add("manifest.json", tarfile.REGTYPE, json.dumps(man).encode())
t.close()
PY
}

# The store's index and file list.
store_state() {
	cat "$IMG_STORE/index.json"
	(cd "$IMG_STORE" && find . -path ./.img/lock -prune -o -print | sort)
}

@test "img-load reads a layer stored as a hard link to another entry, as img-layers does" {
	# GNU tar stores the second name of a file as a hard link entry: an alias of the
	# earlier entry, looked up as an archive key (never through the file system)
	img-layers --archive "$A/hardin.tar" >/dev/null
	run -0 --separate-stderr img-load --check -q "$A/hardin.tar"
	[ "$output" = "Verified image: hostile:1" ]
	run -0 --separate-stderr img-load -q --json "$A/hardin.tar"
	[ "$(jq -r '.images[0].layers[0].diff_id' <<<"$output")" = "sha256:$LH" ]
	[ "$(jq -r '.images[0].config' <<<"$output")" = "sha256:$CH" ]
	cmp "$IMG_STORE/blobs/sha256/$LH" <(tar -xOf "$A/hardin.tar" v1/layer.tar)
	assert_no_temp "$IMG_STORE"
	# a link to a link is one to the first file; the config through a link too
	mkarc chain.tar c.json=c v1=l v2@v1 v3@v2 cfg@c.json -m cfg,v3
	run -0 --separate-stderr img-load --check -q chain.tar
	[ "$output" = "Verified image: hostile:1" ]
	# a hard link to a symlink is that symlink, read from the link's own directory
	mkarc sym.tar c.json=c l.tar=l a/s~../l.tar b/h@a/s -m c.json,b/h
	run -0 --separate-stderr img-load --check -q sym.tar
	[ "$output" = "Verified image: hostile:1" ]
	# an OCI archive whose layer blob is the second name of an earlier file
	python3 - "$A/ok.tar" oci.tar "$LH" <<'PY'
import sys, tarfile
src, out = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2], "w")
blob = "blobs/sha256/" + sys.argv[3]
layer = src.getmember(blob)
copy = tarfile.TarInfo("copy.tar")
copy.size = layer.size
out.addfile(copy, src.extractfile(layer))
for m in src.getmembers():
    if m.name == blob:
        m = tarfile.TarInfo(blob)
        m.type, m.linkname = tarfile.LNKTYPE, "copy.tar"
        out.addfile(m)
    else:
        out.addfile(m, src.extractfile(m) if m.isfile() else None)
out.close()
PY
	rm -rf "$IMG_STORE"
	run -0 --separate-stderr img-load -q oci.tar
	[ "$output" = "Loaded image: hostile:1" ]
	cmp "$IMG_STORE/blobs/sha256/$LH" <(tar -xOf "$A/hardin.tar" v1/layer.tar)
	run -0 img-layers --json hostile:1
	[ "$(jq -r '.layers[0].diff_id' <<<"$output")" = "sha256:$LH" ]
	assert_no_temp "$IMG_STORE"
}

@test "img-load refuses a hard link to a later, missing or its own entry, naming the link" {
	local mode msg
	img-load -q "$PEERS/tiny2-oci.tar" >/dev/null
	store_state > before
	mkarc later.tar c.json=c v2@v1 v1=l -m c.json,v2
	mkarc missing.tar c.json=c v1=l v2@v0 -m c.json,v2
	mkarc self.tar c.json=c v1=l v2@v2 -m c.json,v2
	# a broken link no image uses is refused too: the archive is not whole
	mkarc unused.tar c.json=c v1=l x@nowhere -m c.json,v1
	mkarc dir.tar c.json=c d/v1=l v2@d -m c.json,v2
	mkarc weird.tar c.json=c v1=l $'h\n\e[0m@gone\e' -m c.json,v1
	while IFS='|' read -r mode msg; do
		run -1 --separate-stderr img-load -q "$mode.tar"
		[ -z "$output" ] || fail "$mode: stdout: $output"
		one_line "$msg"
		run -1 --separate-stderr img-load --check -q "$mode.tar"
		one_line "$msg"
	done <<'EOF'
later|hard link 'v2': target 'v1' comes later in the archive
missing|hard link 'v2': target 'v0' is not a file in the archive
self|hard link 'v2': target 'v2' is the link itself
unused|hard link 'x': target 'nowhere' is not a file in the archive
dir|hard link 'v2': target 'd' is not a file in the archive
weird|hard link 'h\012\033[0m': target 'gone\033' is not a file in the archive
EOF
	store_state > after
	diff before after || fail "the store changed"
	assert_no_temp "$IMG_STORE"
}

@test "img-load takes manifest.json paths with a leading ./, as docker and img-layers do" {
	local mode msg want
	# docker load resolves Config and Layers inside the extracted root, so "./c.json" is
	# c.json: the paths are cleaned as entry names are (img_arcin_path_clean)
	img-layers --archive "$A/dotslash.tar" >/dev/null
	run -0 --separate-stderr img-load --check -q "$A/dotslash.tar"
	[ "$output" = "Verified image: hostile:1" ]
	# the same image as with plain paths: the same manifest built for it
	mkarc plain.tar c.json=c l.tar=l -m c.json,l.tar
	mkarc slashes.tar d/c.json=c l.tar=l -m .//d/./c.json,././l.tar
	run -0 --separate-stderr img-load -q --json plain.tar
	want=$(jq -r '.images[0].manifest' <<<"$output")
	run -0 --separate-stderr img-load -q --json "$A/dotslash.tar"
	[ "$(jq -r '.images[0].manifest' <<<"$output")" = "$want" ]
	run -0 --separate-stderr img-load -q --json slashes.tar
	[ "$(jq -r '.images[0].manifest' <<<"$output")" = "$want" ]
	[ "$(jq -r '.images[0].layers[0].diff_id' <<<"$output")" = "sha256:$LH" ]
	# "..", absolute paths and the root stay refused; a missing one is named as written
	store_state > before
	mkarc up.tar c.json=c l.tar=l -m c.json,./a/../../l.tar
	mkarc abs.tar c.json=c l.tar=l -m c.json,/l.tar
	mkarc root.tar c.json=c l.tar=l -m ./,l.tar
	mkarc gone.tar c.json=c l.tar=l -m c.json,./gone.tar
	while IFS='|' read -r mode msg; do
		run -1 --separate-stderr img-load -q "$mode.tar"
		[ -z "$output" ] || fail "$mode: stdout: $output"
		one_line "$msg"
	done <<'EOF'
up|manifest.json: layer: path './a/../../l.tar' contains '..'
abs|manifest.json: layer: absolute path '/l.tar'
root|manifest.json: config './' names the root
gone|layer ./gone.tar: not in the archive
EOF
	store_state > after
	diff before after || fail "the store changed"
	assert_no_temp "$IMG_STORE"
}

@test "a gzip bomb layer is refused past 100x unless --max-ratio allows it" {
	local msg="layer l.tar.gz: decompressed layer exceeds 100 times its compressed size"
	run -1 --separate-stderr img-layers --archive "$A/bomb.tar"
	one_line "img-layers: $A/bomb.tar: $msg"
	run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/bomb.tar"
	one_line "img-diff: $A/bomb.tar: $msg"
	run -1 --separate-stderr img-load -q "$A/bomb.tar"
	one_line "l.tar.gz: decompresses to more than 100 times its size (see --max-ratio)"
	[ ! -e "$IMG_STORE/index.json" ] || [ "$(jq '.manifests | length' "$IMG_STORE/index.json")" -eq 0 ]
	assert_no_temp "$IMG_STORE"
	# 2 GiB + 1536 bytes from ~2 MB: a ratio near 1028
	run -0 --separate-stderr img-layers --max-ratio 2000 --archive "$A/bomb.tar" --json
	[ "$(jq '.layers[0].size' <<<"$output")" -eq 2147485184 ]
	run -2 --separate-stderr img-layers --max-ratio 0 --archive "$A/bomb.tar"
	run -2 --separate-stderr img-diff --max-ratio x A B
}

@test "layer paths: '..' refused, absolute stripped, bad whiteouts refused, all named" {
	run -1 --separate-stderr img-layers --archive "$A/L-dotdot.tar" --files=1
	one_line "path '../x' contains '..'"
	run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/L-dotdot.tar"
	one_line "path '../x' contains '..'"
	[ -z "$output" ] || fail "a partial report: $output"
	run -1 --separate-stderr img-layers --archive "$A/L-hardout.tar" --files=1
	one_line "hard link 'h': path '../../etc/passwd' contains '..'"
	run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/L-hardout.tar"
	one_line "hard link 'h': path '../../etc/passwd' contains '..'"
	[ -z "$output" ] || fail "a partial report: $output"
	run -1 --separate-stderr img-layers --archive "$A/L-whempty.tar" --files=1
	one_line "invalid whiteout 'etc/.wh.'"
	run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/L-whempty.tar"
	one_line "invalid whiteout 'etc/.wh.'"
	[ -z "$output" ] || fail "a partial report: $output"
	# a leading / is stripped: etc/abs lands beside the lower etc/passwd
	run -0 img-layers --archive "$A/L-abs.tar" --files=1
	[ "$(cut -f1,6 <<<"$output")" = $'dir\tetc\nfile\tetc/abs' ]
	run -1 img-diff --ignore-mtime "archive:$A/ok.tar" "archive:$A/L-abs.tar"
	[ "$(grep -v '^[CL] ' <<<"$output")" = "A etc/abs" ]
}

@test "layer links: a symlink over a directory is not followed, a link before its target fails" {
	# d/, d -> /etc, d/passwd: d/passwd is a new file under a new directory d; the
	# lower etc/passwd is untouched
	run -1 img-diff "archive:$A/ok.tar" "archive:$A/L-symdir.tar"
	[ "$(grep -v '^[CL] ' <<<"$output")" = $'A d\nA d/passwd' ]
	# an opaque marker at the root hides every lower file; the layer's own stay
	run -1 img-diff "archive:$A/ok.tar" "archive:$A/L-opqroot.tar"
	grep -qx 'D etc/passwd' <<<"$output"
	grep -qx 'A new' <<<"$output"
	! grep -q '^[AM] etc' <<<"$output"
	run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/L-hardlater.tar"
	one_line "hard link 'h': target 'f' not found"
	[ -z "$output" ] || fail "a partial report: $output"
	run -1 --separate-stderr img-layers -w --archive "$A/L-hardlater.tar"
	one_line "hard link 'h': target 'f' not found"
	# weird names: escaped in the listing and in the message
	run -0 img-layers --archive "$A/L-weird.tar" --files=1
	[ "$(cut -f6 <<<"$output")" = $'new\\012line\\033[31m\nh\\033[0m link to missing\\012file' ]
	run -2 --separate-stderr img-diff "archive:$A/ok.tar" "archive:$A/L-weird.tar"
	one_line "hard link 'h\\033[0m': target 'missing\\012file' not found"
	[ -z "$output" ] || fail "a partial report: $output"
}

# img-import of TAR must fail with MESSAGE and leave the store as it was.
import_refused() {
	local tar=$1 msg=$2
	run -1 --separate-stderr img-import -q "$tar" bad:1
	[ -z "$output" ] || fail "stdout: $output"
	one_line "$msg"
	diff before <(cat "$IMG_STORE/index.json"; ls -A "$IMG_STORE/blobs/sha256") ||
		fail "$tar: the store changed"
	[ -z "$(ls -A "$IMG_STORE/.img/tmp" 2>/dev/null)" ] || fail "$tar: temp files left"
}

@test "img-import refuses escaping input, one escaped line naming the entry, store unchanged" {
	import_tiny
	{ cat "$IMG_STORE/index.json"; ls -A "$IMG_STORE/blobs/sha256"; } > before
	import_refused "$A/R-symroot.tar" "img-import: $A/R-symroot.tar: entry 'a/etc/x' is under symlink 'a'"
	import_refused "$A/R-hardout.tar" "img-import: $A/R-hardout.tar: hard link 'h': path '../../etc/passwd' contains '..'"
	import_refused "$A/R-dotdot.tar" "img-import: $A/R-dotdot.tar: path '../x' contains '..'"
	import_refused "$A/R-weird.tar" "img-import: $A/R-weird.tar: hard link 'h\\033[0m' to 'missing\\012file': target is not an earlier file"
	import_refused "$A/empty.tar" "not a tar archive (empty input)"
}

@test "img-import keeps devices, long and non-UTF-8 names as entries" {
	img-import -q "$A/R-dev.tar" dev:1 >/dev/null
	run -0 img-layers --files dev:1
	[ "$(cut -f2,7 <<<"$output")" = $'dir\tdev\nchar\tdev/null\nfifo\tdev/fifo' ]
	img-import -q --compress none "$A/R-long.tar" long:1 >/dev/null
	run -0 img-layers --files --json long:1
	[ "$(jq -r '.files[].path | length' <<<"$output" | tr '\n' ' ')" = "150 300 " ]
	# the layer blob holds the device numbers and the names whole
	run -0 img-layers --json dev:1
	blob=$(jq -r '.layers[0].digest' <<<"$output")
	tar -tvzf "$IMG_STORE/blobs/sha256/${blob#sha256:}" | grep -q '^c.* 1,3 .*dev/null$'
	img-import -q "$A/R-nonutf8.tar" raw:1 >/dev/null
	run -0 img-layers --files raw:1
	[ "$(cut -f7 <<<"$output")" = $'bad-\xff\xfe' ]
	# JSON has no raw bytes: those that are not UTF-8 become U+FFFD (not a lost entry)
	run -0 img-layers --files --json -w raw:1
	[ "$(jq -r '.files[].path' <<<"$output")" = "bad-"$'\xef\xbf\xbd\xef\xbf\xbd' ]
	run -1 img-diff --json dev:1 raw:1
	[ "$(jq -r '.files[] | .change + " " + .path' <<<"$output")" = $'A bad-\xef\xbf\xbd\xef\xbf\xbd\nD dev\nD dev/fifo\nD dev/null' ]
}
