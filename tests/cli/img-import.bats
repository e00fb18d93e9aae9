#!/usr/bin/env bats
# img-import: rootfs tarball or directory -> image in the store (formats.md §7.1).
bats_require_minimum_version 1.5.0
load ../lib/helper

TINY="$PEERS/src/tiny-rootfs.tar"

# The blob path of a digest in the store.
blob() { printf '%s/blobs/sha256/%s' "$IMG_STORE" "${1#sha256:}"; }
# The manifest digest a canonical name points at.
manifest_of() {
	jq -r --arg n "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | .digest' \
		"$IMG_STORE/index.json"
}
config_of() { jq -r .config.digest "$(blob "$1")"; }
treesum() { python3 "$FIX/treesum.py" "$1"; }

# Unpack NAME (canonical) with umoci and compare its rootfs with the tree in DIR.
same_tree_as_umoci() {
	need umoci
	local name=$1 dir=$2
	rm -rf bundle
	umoci unpack --image "$IMG_STORE:$name" bundle >/dev/null 2>umoci.err || fail "umoci: $(cat umoci.err)"
	treesum "$dir" > want.sum
	treesum bundle/rootfs > got.sum
	[ -s want.sum ] || fail "empty tree"
	diff want.sum got.sum || fail "umoci tree differs from the input"
}

@test "--help: usage and options on stdout, exit 0" {
	run --separate-stderr img-import --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: img-import "* ]]
	for o in --base --change --compress --json --level --message --platform --progress --quiet --store; do
		[[ "$output" == *"$o"* ]] || fail "--help lacks $o"
	done
}

@test "bad option, missing operand, too many operands: usage on stderr, exit 2" {
	run --separate-stderr img-import --bogus x.tar
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"usage: img-import"* ]]
	run --separate-stderr img-import
	[ "$status" -eq 2 ]
	run --separate-stderr img-import a b c
	[ "$status" -eq 2 ]
	run --separate-stderr img-import --compress lz4 "$TINY"
	[ "$status" -eq 2 ]
	[ ! -e "$IMG_STORE" ]
}

@test "missing file: one line, exit 1, no store created" {
	run --separate-stderr img-import nosuch.tar x:1
	[ "$status" -eq 1 ]
	[ "$stderr" = "img-import: cannot open 'nosuch.tar': No such file or directory" ]
	[ ! -e "$IMG_STORE" ]
}

@test "tiny rootfs: skopeo reads our layer, umoci unpacks the same tree as the tar" {
	need skopeo
	run --separate-stderr img-import -q "$TINY" tiny:1
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
	m=$output
	[ "$(manifest_of docker.io/library/tiny:1)" = "$m" ]
	layer=$(jq -r '.layers[0].digest' "$(blob "$m")")
	[ "$(jq -r '.layers[0].mediaType' "$(blob "$m")")" = application/vnd.oci.image.layer.v1.tar+gzip ]
	skopeo inspect "oci:$IMG_STORE:docker.io/library/tiny:1" > insp.json
	[ "$(jq -r '.Layers | length' insp.json)" = 1 ]
	[ "$(jq -r '.Layers[0]' insp.json)" = "$layer" ]
	[ "$(jq -r .Digest insp.json)" = "$m" ]
	# the blobs verify
	[ "$(sha256sum < "$(blob "$layer")" | cut -d' ' -f1)" = "${layer#sha256:}" ]
	mkdir want
	tar --xattrs -xpf "$TINY" -C want
	same_tree_as_umoci docker.io/library/tiny:1 want
}

@test "a tree with a hard link, symlinks, a fifo, an xattr and a space: DIR and its tar" {
	sh "$FIX/mktree.sh" tree
	tar --xattrs -C tree -cf tree.tar .
	img-import -q tree t:dir > dir.out
	img-import -q tree.tar t:tar > tar.out
	same_tree_as_umoci docker.io/library/t:dir tree
	same_tree_as_umoci docker.io/library/t:tar tree
	grep -q "user.comment=" want.sum
	grep -q $'\tfifo\t' want.sum
	[ ! -c tree/dev/null ] || grep -q $'^dev/null\tchr\t644\t0\t0\t1,3\t' got.sum
	grep -q '^usr/share/doc/with space.txt' want.sum
	grep -q $'^usr/share/doc/a.txt\t.*\tusr/share/doc/a-hard.txt$' got.sum
	# the layer: relative names, numeric owners, a hard link entry, mtimes clamped
	m=$(cat dir.out)
	layer=$(jq -r '.layers[0].digest' "$(blob "$m")")
	zcat "$(blob "$layer")" | tar -tvf - > list
	! grep -E ' (\./|/)' list | grep -v -- '->' | grep -q .
	grep -q '^hrw-r--r-- 0/0 .* usr/share/doc/a.txt link to usr/share/doc/a-hard.txt$' list
	grep -q '^drwx------ 1234/5678 ' list
	grep -q '^-rwsr-xr-x 0/0 ' list
	! grep -q '2025-' list
	grep -q ' 2020-09-13 .* etc/os-release$' list
}

@test "DIR entries are sorted and the import is reproducible" {
	sh "$FIX/mktree.sh" tree
	a=$(img-import -q tree one:1)
	touch tree/etc/os-release      # a newer mtime is clamped to SOURCE_DATE_EPOCH anyway
	touch -d @1600000000 tree/etc/os-release
	b=$(img-import -q tree two:1)
	[ "$a" = "$b" ]
	layer=$(jq -r '.layers[0].digest' "$(blob "$a")")
	zcat "$(blob "$layer")" | tar -tf - > names
	sort -c names 2>/dev/null || LC_ALL=C sort -c names
	SOURCE_DATE_EPOCH=1700000001 run -0 img-import -q tree three:1
	[ "$output" != "$a" ]
}

@test "reproducible: the same tar twice, by file and by stdin, gives the same digest" {
	a=$(img-import -q "$TINY" r:1)
	b=$(img-import -q "$TINY" r:2)
	c=$(img-import -q - r:3 < "$TINY")
	[ "$a" = "$b" ]
	[ "$a" = "$c" ]
	cfg=$(config_of "$a")
	[ "$(jq -r .created "$(blob "$cfg")")" = 2023-11-14T22:13:20Z ]
	[ "$(jq -r '.history[0].created' "$(blob "$cfg")")" = 2023-11-14T22:13:20Z ]
}

@test "diff_id is the sha256 of the decompressed layer: gzip, zstd, none" {
	for c in gzip zstd none; do
		m=$(img-import -q --compress "$c" "$TINY" c:$c)
		man=$(blob "$m")
		layer=$(jq -r '.layers[0].digest' "$man")
		mt=$(jq -r '.layers[0].mediaType' "$man")
		diffid=$(jq -r '.rootfs.diff_ids[0]' "$(blob "$(config_of "$m")")")
		case $c in
		gzip) [ "$mt" = application/vnd.oci.image.layer.v1.tar+gzip ]; dec="gzip -dc" ;;
		zstd) [ "$mt" = application/vnd.oci.image.layer.v1.tar+zstd ]; dec="zstd -dc" ;;
		none) [ "$mt" = application/vnd.oci.image.layer.v1.tar ]; dec=cat ;;
		esac
		[ "$(jq -r '.layers[0].size' "$man")" = "$(stat -c %s "$(blob "$layer")")" ]
		[ "$diffid" = "sha256:$($dec < "$(blob "$layer")" | sha256sum | cut -d' ' -f1)" ] ||
			fail "$c: diff_id $diffid"
		[ "$c" != none ] || [ "$diffid" = "$layer" ]
		# the same tree whatever the compression
		[ "$($dec < "$(blob "$layer")" | tar -tvf - | md5sum)" = "$(gzip -dc < "$(blob "$(jq -r '.layers[0].digest' "$(blob "$(manifest_of docker.io/library/c:gzip)")")")" | tar -tvf - | md5sum)" ]
	done
	# compressed input is read as well
	gzip -c "$TINY" > t.tgz
	xz -c "$TINY" > t.txz
	zstd -q -c "$TINY" > t.tzst
	a=$(img-import -q "$TINY" in:plain)
	for f in t.tgz t.txz t.tzst; do
		[ "$(img-import -q "$f" in:$f)" = "$a" ] || fail "$f gives another image"
	done
}

@test "--level changes the gzip blob, not the diff_id" {
	a=$(img-import -q --level 1 "$TINY" l:1)
	b=$(img-import -q --level 9 "$TINY" l:9)
	[ "$(jq -r '.rootfs.diff_ids[0]' "$(blob "$(config_of "$a")")")" = \
	  "$(jq -r '.rootfs.diff_ids[0]' "$(blob "$(config_of "$b")")")" ]
	[ "$(jq -r '.layers[0].digest' "$(blob "$a")")" != "$(jq -r '.layers[0].digest' "$(blob "$b")")" ]
	run -2 img-import --level 30 "$TINY"
}

@test "a config from scratch: platform, created, history, message" {
	m=$(img-import -q -m "first import" --platform linux/arm64/v8 "$TINY" p:1)
	cfg=$(blob "$(config_of "$m")")
	[ "$(jq -r .architecture "$cfg")" = arm64 ]
	[ "$(jq -r .os "$cfg")" = linux ]
	[ "$(jq -r '.rootfs.type' "$cfg")" = layers ]
	[ "$(jq -r '.history | length' "$cfg")" = 1 ]
	[ "$(jq -r '.history[0].comment' "$cfg")" = "first import" ]
	[ "$(jq -r '.history[0].created_by' "$cfg")" = img-import ]
	[ "$(jq -r '.history[0].empty_layer // false' "$cfg")" = false ]
	[ "$(jq -r '.config.mediaType' "$(blob "$m")")" = application/vnd.oci.image.config.v1+json ]
	run -2 img-import --platform 'not/a/plat/form/x' "$TINY"
}

@test "--json: digest, config, name, layers, diff_ids" {
	run -0 --separate-stderr img-import -q --json "$TINY" nginx:v3
	echo "$output" | jq -e . >/dev/null
	m=$(echo "$output" | jq -r .digest)
	[ "$(manifest_of docker.io/library/nginx:v3)" = "$m" ]
	[ "$(echo "$output" | jq -r .name)" = docker.io/library/nginx:v3 ]
	[ "$(echo "$output" | jq -r .config)" = "$(config_of "$m")" ]
	[ "$(echo "$output" | jq -r '.layers[0]')" = "$(jq -r '.layers[0].digest' "$(blob "$m")")" ]
	[ "$(echo "$output" | jq -r '.diff_ids[0]')" = "sha256:$(zcat "$(blob "$(echo "$output" | jq -r '.layers[0]')")" | sha256sum | cut -d' ' -f1)" ]
	run -0 img-import -q --json "$TINY"
	[ "$(echo "$output" | jq -r .name)" = null ]
}

@test "--base and --change: base layers plus one, and the changes in the config" {
	need skopeo umoci
	base=$(img-import -q -c 'CMD ["/bin/sh","-c","echo base"]' -c 'ENV PATH=/bin A=1' \
		-c 'WORKDIR /srv' "$TINY" base:1)
	mkdir app
	echo v2 > app/VERSION
	m=$(img-import -q -b base:1 \
		-c 'ENV A 2 and more' -c 'ENV B="two words" C=$A' \
		-c 'ENTRYPOINT /bin/entry --flag' \
		-c 'EXPOSE 80 53/udp 8000-8002' \
		-c 'LABEL org.example.k=v "other key"=x' \
		-c 'USER 1000:1000' \
		-c 'VOLUME ["/data", "/logs"]' -c 'VOLUME /cache /tmp/x' \
		-c 'WORKDIR app' -c 'WORKDIR ../www' \
		-c 'STOPSIGNAL SIGQUIT' \
		-c 'HEALTHCHECK --interval=30s --retries=3 CMD ["/bin/check"]' \
		-c 'ONBUILD COPY . /src' \
		app app:2)
	bm=$(blob "$base")
	man=$(blob "$m")
	cfg=$(blob "$(config_of "$m")")
	bcfg=$(blob "$(config_of "$base")")
	[ "$(jq '.layers | length' "$man")" = 2 ]
	[ "$(jq -c '.layers[0]' "$man")" = "$(jq -c '.layers[0]' "$bm")" ]
	[ "$(jq -r '.mediaType' "$man")" = application/vnd.oci.image.manifest.v1+json ]
	[ "$(jq '.rootfs.diff_ids | length' "$cfg")" = 2 ]
	[ "$(jq -r '.rootfs.diff_ids[0]' "$cfg")" = "$(jq -r '.rootfs.diff_ids[0]' "$bcfg")" ]
	[ "$(jq '.history | length' "$cfg")" = 2 ]
	c=$(jq -c .config "$cfg")
	[ "$(jq -c .Env <<<"$c")" = '["PATH=/bin","A=2 and more","B=two words","C=2 and more"]' ]
	[ "$(jq -c .Entrypoint <<<"$c")" = '["/bin/sh","-c","/bin/entry --flag"]' ]
	[ "$(jq -c .Cmd <<<"$c")" = null ]      # an ENTRYPOINT resets the inherited CMD, as docker does
	[ "$(jq -c '.ExposedPorts | keys' <<<"$c")" = '["53/udp","80/tcp","8000/tcp","8001/tcp","8002/tcp"]' ]
	[ "$(jq -c .Labels <<<"$c")" = '{"org.example.k":"v","other key":"x"}' ]
	[ "$(jq -r .User <<<"$c")" = 1000:1000 ]
	[ "$(jq -c '.Volumes | keys' <<<"$c")" = '["/cache","/data","/logs","/tmp/x"]' ]
	[ "$(jq -r .WorkingDir <<<"$c")" = /srv/www ]
	[ "$(jq -r .StopSignal <<<"$c")" = SIGQUIT ]
	[ "$(jq -c .Healthcheck <<<"$c")" = '{"Interval":30000000000,"Retries":3,"Test":["CMD","/bin/check"]}' ] ||
		[ "$(jq -c '.Healthcheck | {Test, Interval, Retries}' <<<"$c")" = '{"Test":["CMD","/bin/check"],"Interval":30000000000,"Retries":3}' ]
	[ "$(jq -c .OnBuild <<<"$c")" = '["COPY . /src"]' ]
	# the base is unchanged, the new layer holds just the directory's content
	[ "$(jq -c .config.Cmd "$bcfg")" = '["/bin/sh","-c","echo base"]' ]
	zcat "$(blob "$(jq -r '.layers[1].digest' "$man")")" | tar -tf - > list
	[ "$(cat list)" = VERSION ]
	# skopeo and umoci see both layers
	[ "$(skopeo inspect "oci:$IMG_STORE:docker.io/library/app:2" | jq '.Layers | length')" = 2 ]
	umoci unpack --image "$IMG_STORE:docker.io/library/app:2" bundle >/dev/null 2>&1
	[ "$(cat bundle/rootfs/VERSION)" = v2 ]
	[ -x bundle/rootfs/bin/busybox ]
}

@test "--change: CMD exec and shell forms; CMD after ENTRYPOINT kept" {
	m=$(img-import -q -c 'ENTRYPOINT ["/e"]' -c 'CMD ["a", "b"]' "$TINY" c:1)
	[ "$(jq -c '.config | {Entrypoint, Cmd}' "$(blob "$(config_of "$m")")")" = '{"Entrypoint":["/e"],"Cmd":["a","b"]}' ]
	m=$(img-import -q -c 'cmd echo hi there' "$TINY" c:2)
	[ "$(jq -c '.config.Cmd' "$(blob "$(config_of "$m")")")" = '["/bin/sh","-c","echo hi there"]' ]
}

@test "--change: invalid instructions exit 2 naming them, store unchanged" {
	img-import -q "$TINY" keep:1 >/dev/null
	cp "$IMG_STORE/index.json" before.json
	for c in 'RUN echo hi' 'COPY a b' 'FROM scratch' 'SHELL ["/bin/bash"]'; do
		run --separate-stderr img-import -c "$c" "$TINY" x:1
		[ "$status" -eq 2 ] || fail "$c: exit $status"
		kw=${c%% *}
		[ "$stderr" = "img-import: $kw is not a valid change instruction" ] || fail "$c: $stderr"
	done
	for c in 'EXPOSE notaport' 'EXPOSE 70000' 'STOPSIGNAL SIGNOPE' 'ENV' 'ENV A="unbalanced' \
	         'WORKDIR a b' 'HEALTHCHECK --interval=x CMD true' 'ONBUILD FROM x' ''; do
		run --separate-stderr img-import -c "$c" "$TINY" x:1
		[ "$status" -eq 2 ] || fail "'$c': exit $status"
		[ "${#stderr_lines[@]}" -eq 1 ] || fail "'$c': $stderr"
	done
	cmp before.json "$IMG_STORE/index.json"
	assert_no_temp "$IMG_STORE"
}

@test "bad inputs: not a tar, truncated, escaping paths, unreadable DIR: exit 1, one line, store unchanged" {
	img-import -q "$TINY" keep:1 >/dev/null
	cp "$IMG_STORE/index.json" before.json
	blobs_before=$(ls "$IMG_STORE/blobs/sha256" | sort)
	printf 'this is not a tar archive, just text\n%.0s' {1..50} > notatar.txt
	gzip -c "$TINY" | head -c 300000 > trunc.tar.gz
	head -c 700000 "$TINY" > trunc.tar
	python3 - <<-'EOF'
	import io, tarfile
	def mk(name, entries):
	    with tarfile.open(name, "w") as t:
	        for n, kind, arg in entries:
	            i = tarfile.TarInfo(n)
	            if kind == "f":
	                i.size = len(arg); t.addfile(i, io.BytesIO(arg))
	            elif kind == "h":
	                i.type = tarfile.LNKTYPE; i.linkname = arg; t.addfile(i)
	            elif kind == "s":
	                i.type = tarfile.SYMTYPE; i.linkname = arg; t.addfile(i)
	mk("dotdot.tar", [("ok", "f", b"x"), ("a/../../escape", "f", b"x")])
	mk("abs.tar", [("/etc/passwd", "f", b"x")])
	mk("hardlink.tar", [("a", "f", b"x"), ("b", "h", "../../etc/shadow")])
	mk("hardlink-nothing.tar", [("b", "h", "etc/shadow")])
	mk("hardlink-self.tar", [("b", "h", "b")])
	mk("undersymlink.tar", [("etc", "s", "/etc"), ("etc/passwd", "f", b"x")])
	mk("dup.tar", [("a", "f", b"x"), ("a", "f", b"y")])
	EOF
	for f in notatar.txt trunc.tar.gz trunc.tar dotdot.tar abs.tar hardlink.tar \
	         hardlink-nothing.tar hardlink-self.tar undersymlink.tar dup.tar; do
		run --separate-stderr img-import "$f" bad:1
		[ "$status" -eq 1 ] || fail "$f: exit $status"
		[ "${#stderr_lines[@]}" -eq 1 ] || fail "$f: $stderr"
		[[ "$stderr" == "img-import: $f: "* ]] || fail "$f: $stderr"
		[ -z "$output" ]
	done
	# an unreadable directory inside DIR (as an unprivileged user when we are root)
	sh "$FIX/mktree.sh" tree
	mkdir tree/secret && echo x > tree/secret/f && chmod 000 tree/secret
	if [ "$(id -u)" = 0 ]; then
		command -v setpriv >/dev/null || skip "setpriv missing"
		d=$BATS_TEST_TMPDIR
		while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
		chmod -R o+rwX "$IMG_STORE"
		chmod -R o+rX tree
		chmod 000 tree/secret
		run --separate-stderr setpriv --reuid=65534 --regid=65534 --clear-groups \
			env PATH="$PATH" IMG_STORE="$IMG_STORE" img-import tree bad:1
	else
		run --separate-stderr img-import tree bad:1
	fi
	[ "$status" -eq 1 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"tree/secret"*"Permission denied" ]] || fail "$stderr"
	cmp before.json "$IMG_STORE/index.json"
	[ "$(ls "$IMG_STORE/blobs/sha256" | sort)" = "$blobs_before" ]
	assert_no_temp "$IMG_STORE"
}

@test "names: NAME is normalized, a new import takes the name, the old image stays unnamed" {
	a=$(img-import -q "$TINY" foo/bar)
	[ "$(manifest_of docker.io/foo/bar:latest)" = "$a" ]
	sh "$FIX/mktree.sh" tree
	b=$(img-import -q tree foo/bar:latest)
	[ "$(manifest_of docker.io/foo/bar:latest)" = "$b" ]
	[ "$(jq --arg d "$a" '[.manifests[] | select(.digest == $d)] | length' "$IMG_STORE/index.json")" = 1 ]
	[ "$(jq -r --arg d "$a" '.manifests[] | select(.digest == $d) | .annotations // {} | length' "$IMG_STORE/index.json")" = 0 ]
	run -1 --separate-stderr img-import "$TINY" 'Bad/Name'
	[[ "$stderr" == *"Bad/Name"* ]]
	# no name: added unnamed
	c=$(img-import -q --compress none "$TINY")
	[ "$(jq -r --arg d "$c" '.manifests[] | select(.digest == $d) | .digest' "$IMG_STORE/index.json")" = "$c" ]
}

@test "> /dev/full fails; -q prints only the digest; progress goes to stderr" {
	run -1 --separate-stderr bash -c "img-import -q '$TINY' full:1 > /dev/full"
	[ "$stderr" = "img-import: write error on stdout: No space left on device" ]
	run -0 --separate-stderr img-import --progress plain "$TINY" p:1
	[[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
	run -0 --separate-stderr img-import -q "$TINY" p:2
	[ -z "$stderr" ]
	assert_no_temp "$IMG_STORE"
}

@test "a missing base fails with one line and changes nothing" {
	img-import -q "$TINY" keep:1 >/dev/null
	cp "$IMG_STORE/index.json" before.json
	run -1 --separate-stderr img-import -b nosuch:1 "$TINY" x:1
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "img-import: base nosuch:1: "* ]]
	cmp before.json "$IMG_STORE/index.json"
	assert_no_temp "$IMG_STORE"
}
