#!/usr/bin/env bats
# Interoperability with the real consumers: podman loads (and runs) what img writes, img
# loads what podman and skopeo write, and umoci unpacks from the store the same tree
# podman sees. Podman runs as root on vfs, offline, in a private root per test.
load ../lib/helper
bats_require_minimum_version 1.5.0

setup_file() {
	need podman
}

setup() {
	export IMG_STORE="$BATS_TEST_TMPDIR/store"
	export SOURCE_DATE_EPOCH=1700000000
	cd "$BATS_TEST_TMPDIR"
	: > registries.conf
	printf '[storage]\ndriver = "vfs"\nrunroot = "%s/podrun"\ngraphroot = "%s/podroot"\n' \
		"$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR" > storage.conf
	export CONTAINERS_REGISTRIES_CONF="$BATS_TEST_TMPDIR/registries.conf"
	export CONTAINERS_STORAGE_CONF="$BATS_TEST_TMPDIR/storage.conf"
}

pm() {
	podman --storage-driver vfs --root "$BATS_TEST_TMPDIR/podroot" \
		--runroot "$BATS_TEST_TMPDIR/podrun" --tmpdir "$BATS_TEST_TMPDIR/podtmp" \
		--cgroup-manager cgroupfs --events-backend file "$@"
}

# podman run, offline, with runc: crun cannot run here (hybrid cgroups) and the default
# rlimits are above what the sandbox lets a container raise them to.
pm_run() {
	pm run --runtime runc --rm --network none \
		--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
}

# tiny:1 (the peers' rootfs) and tiny:2 (tiny:1 + the peers' second layer, new CMD).
import_both() {
	import_tiny tiny:1
	img-import -q -b tiny:1 -c 'CMD ["/bin/hello"]' -m "second layer" \
		"$PEERS/src/tiny-layer2.tar" tiny:2 > /dev/null
}

# The store's manifest digest of NAME (default store $IMG_STORE).
manifest_of() {
	jq -r --arg n "docker.io/library/$1" \
		'.manifests[] | select(.annotations["io.containerd.image.name"] == $n) | .digest' \
		"${2:-$IMG_STORE}/index.json"
}

# Print a blob of a store: blob STORE DIGEST
blob() { cat "$1/blobs/sha256/${2#sha256:}"; }

# The config of NAME in store STORE, canonical JSON.
config_of() {
	local m
	m=$(manifest_of "$1" "$2")
	[ -n "$m" ] || fail "no image $1 in $2"
	blob "$2" "$(blob "$2" "$m" | jq -r .config.digest)" | jq -S .
}

# The config digest of NAME in STORE.
config_digest_of() {
	blob "$2" "$(manifest_of "$1" "$2")" | jq -r .config.digest
}

diff_ids_of() { config_of "$1" "$2" | jq -c .rootfs.diff_ids; }

# A listing of a root filesystem that two unpackers must agree on: path, type, mode,
# owner, link target, content hash, and hard-link group; mtimes of non-directories.
tree_list() {
	python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
first = {}
out = []
for d, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(d, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        m = st.st_mode
        extra = ""
        if stat.S_ISREG(m):
            with open(p, "rb") as f:
                extra = hashlib.sha256(f.read()).hexdigest()
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                extra += " link-group=" + first.setdefault(key, rel)
            extra += " mtime=%d" % int(st.st_mtime)
        elif stat.S_ISLNK(m):
            extra = "-> " + os.readlink(p) + " mtime=%d" % int(st.st_mtime)
        out.append("%s %s %o %d:%d %s" % (rel, stat.filemode(m)[0], stat.S_IMODE(m),
                                          st.st_uid, st.st_gid, extra))
print("\n".join(out))
EOF
}

@test "podman loads an img-save archive: same name, layer diff_ids, config and manifest" {
	need podman
	import_both
	img-save tiny:2 > t2.tar
	run -0 pm load -q -i t2.tar
	[[ $output == *"docker.io/library/tiny:2"* ]] || fail "podman load said: $output"
	pm image inspect docker.io/library/tiny:2 > inspect.json
	# the diff_ids: sha256 of the uncompressed layers, as the config says
	local want l
	want=$(for l in $(blob "$IMG_STORE" "$(manifest_of tiny:2)" | jq -r '.layers[].digest'); do
		blob "$IMG_STORE" "$l" | gzip -dc | sha256sum | sed 's/^\([0-9a-f]*\).*/"sha256:\1"/'
	done | jq -sc .)
	[ "$(diff_ids_of tiny:2 "$IMG_STORE")" = "$want" ]
	[ "$(jq -c '.[0].RootFS.Layers' inspect.json)" = "$want" ]
	[ "$(jq -r '.[0].RepoTags[]' inspect.json)" = "docker.io/library/tiny:2" ]
	# same config (podman's image ID is the config digest) and the same manifest
	[ "sha256:$(jq -r '.[0].Id' inspect.json)" = "$(config_digest_of tiny:2 "$IMG_STORE")" ]
	[ "$(jq -r '.[0].Digest' inspect.json)" = "$(manifest_of tiny:2)" ]
	[ "$(jq -c '.[0].Config.Cmd' inspect.json)" = '["/bin/hello"]' ]
}

@test "podman loads an img-save archive of two images: both names" {
	need podman
	import_both
	img-save tiny:1 tiny:2 > both.tar
	run -0 pm load -q -i both.tar
	# podman reads a two-image archive through manifest.json, whose RepoTags are in
	# docker's short form: podman qualifies short names with localhost/
	local n id
	for n in tiny:1 tiny:2; do
		id=$(config_digest_of "$n" "$IMG_STORE" | cut -d: -f2)
		run -0 pm image inspect --format '{{.Id}} {{.RepoTags}}' "$id"
		[[ $output == "$id ["*"/$n]" ]] || fail "$n: $output"
	done
}

@test "podman runs an imported image" {
	command -v runc >/dev/null || skip "runc is not installed"
	import_both
	img-save tiny:1 | pm load -q > /dev/null
	img-save tiny:2 | pm load -q > /dev/null
	run -0 pm_run docker.io/library/tiny:1 /bin/busybox echo hi
	[ "$output" = hi ]
	run -0 pm_run docker.io/library/tiny:2
	[ "$output" = "hello from tiny:2" ]
	# the second layer's whiteouts and opaque directory, as the runtime sees them
	run -0 pm_run docker.io/library/tiny:2 /bin/busybox sh -c \
		'cat /etc/tiny-release; ls /opt/old /usr/share/tiny; test ! -e /usr/share/tiny/b.txt && echo gone'
	[ "$output" = "$(printf 'tiny v2\n/opt/old:\nz.txt\n\n/usr/share/tiny:\na.txt\nc-link.txt\nc.txt\ngone')" ]
}

@test "podman runs what img-import --change made, loaded from a gzip pipe" {
	command -v runc >/dev/null || skip "runc is not installed"
	import_tiny tiny:1
	mkdir -p top/opt/app
	echo data > top/opt/app/f
	img-import -q -b tiny:1 -c 'ENV GREETING="hi there"' -c 'WORKDIR /opt/app' -c 'USER 1000:1000' \
		-c 'ENTRYPOINT ["/bin/busybox"]' -c 'CMD ["sh","-c","echo $GREETING; pwd; id -u; cat f"]' \
		top chg:1 > /dev/null
	img-save chg:1 | gzip | pm load -q > /dev/null
	run -0 pm_run docker.io/library/chg:1
	[ "$output" = "$(printf 'hi there\n/opt/app\n1000\ndata')" ]
}

@test "umoci unpacks from the store the tree podman sees" {
	need umoci
	import_both
	img-save tiny:2 | pm load -q > /dev/null
	umoci unpack --image "$IMG_STORE:docker.io/library/tiny:2" bundle > /dev/null
	local mnt
	mnt=$(pm image mount docker.io/library/tiny:2)
	tree_list bundle/rootfs > umoci.list
	tree_list "$mnt" > podman.list
	pm image unmount docker.io/library/tiny:2 > /dev/null
	diff umoci.list podman.list
	grep -q '^opt/old/z.txt - ' umoci.list
	if grep -q '^opt/old/x.txt \|^usr/share/tiny/b.txt ' umoci.list; then
		fail "whiteouts not applied"
	fi
	grep -q '^usr/share/tiny/c.txt .*link-group=usr/share/tiny/c-link.txt ' umoci.list
}

@test "img-load reads podman save --format docker-archive and oci-archive" {
	need podman
	import_both
	img-save tiny:2 | pm load -q > /dev/null
	pm save -q --format docker-archive -o d.tar docker.io/library/tiny:2
	pm save -q --format oci-archive -o o.tar docker.io/library/tiny:2
	local f
	for f in d.tar o.tar; do
		run -0 --separate-stderr img-load -S "s-$f" "$f"
		[ "$output" = "Loaded image: tiny:2" ] || [ "$output" = "Loaded image: docker.io/library/tiny:2" ] ||
			fail "$f: $output"
		[ "$(diff_ids_of tiny:2 "s-$f")" = "$(diff_ids_of tiny:2 "$IMG_STORE")" ] || fail "$f: diff_ids differ"
		[ "$(config_of tiny:2 "s-$f")" = "$(config_of tiny:2 "$IMG_STORE")" ] || fail "$f: config differs"
		img-save -q -S "s-$f" tiny:2 > /dev/null
	done
	# docker-archive carries the config file as is: the same image ID
	[ "$(config_digest_of tiny:2 s-d.tar)" = "$(config_digest_of tiny:2 "$IMG_STORE")" ]
	# oci-archive: the manifest is stored as podman wrote it
	[ "$(manifest_of tiny:2 s-o.tar)" = "$(tar -xOf o.tar index.json | jq -r '.manifests[0].digest')" ]
	# loaded twice, the legacy archive gets the same manifest
	img-load -q -S s-d2 d.tar
	[ "$(manifest_of tiny:2 s-d2)" = "$(manifest_of tiny:2 s-d.tar)" ]
}

@test "img-load reads a podman save -m archive of two images: both names" {
	import_both
	img-save tiny:1 | pm load -q > /dev/null
	img-save tiny:2 | pm load -q > /dev/null
	pm save -q -m -o multi.tar docker.io/library/tiny:1 docker.io/library/tiny:2
	[ "$(tar -xOf multi.tar manifest.json | jq length)" -eq 2 ]
	run -0 --separate-stderr img-load -S s multi.tar
	[ "${#lines[@]}" -eq 2 ]
	local n
	for n in tiny:1 tiny:2; do
		[[ $output == *"Loaded image: "*"$n"* ]] || fail "$n not loaded: $output"
		[ "$(config_of "$n" s)" = "$(config_of "$n" "$IMG_STORE")" ] || fail "$n: config differs"
		[ "$(config_digest_of "$n" s)" = "$(config_digest_of "$n" "$IMG_STORE")" ] || fail "$n: ID differs"
	done
	run -0 img-ls -S s
	[[ $output == *$'\ntiny '*' 1 '* ]] || fail "$output"
	[[ $output == *$'\ntiny '*' 2 '* ]] || fail "$output"
}

@test "skopeo: oci: from the store to oci-archive and docker-archive, loaded back" {
	need skopeo
	import_both
	skopeo copy -q "oci:$IMG_STORE:docker.io/library/tiny:2" oci-archive:o.tar
	skopeo copy -q "oci:$IMG_STORE:docker.io/library/tiny:2" docker-archive:d.tar:tiny:2
	run -0 img-load -q -S s-o o.tar
	# skopeo keeps the manifest as stored: the digest survives the trip
	local m
	m=$(jq -r '.manifests[0].digest' s-o/index.json)
	[ "$m" = "$(manifest_of tiny:2)" ]
	run -0 img-load -q -S s-d d.tar
	[ "$(diff_ids_of tiny:2 s-d)" = "$(diff_ids_of tiny:2 "$IMG_STORE")" ]
	[ "$(config_digest_of tiny:2 s-d)" = "$(config_digest_of tiny:2 "$IMG_STORE")" ]
	# and skopeo reads back what img-load stored
	run -0 skopeo inspect --raw "oci:s-d:docker.io/library/tiny:2"
	[ "$(jq -r .config.digest <<< "$output")" = "$(config_digest_of tiny:2 "$IMG_STORE")" ]
}
