#!/usr/bin/env bats
# img-build: Dockerfiles built in the store (RUN steps as root with runc; skipped otherwise).
bats_require_minimum_version 1.5.0
load ../lib/helper

need_root_runc() {
	need runc
	[ "$(id -u)" = 0 ] || skip "runc containers need root here"
}

# base: the peers' tiny rootfs (busybox) with a web root on top.
make_base() {
	img-import -q "$PEERS/src/tiny-rootfs.tar" tiny:1 >/dev/null
	mkdir -p web/usr/share/nginx/html
	echo old >web/usr/share/nginx/html/index.html
	img-import -q -b tiny:1 web base >/dev/null
	mkdir -p ctx
	cat >ctx/Dockerfile <<-'DF'
	FROM base
	RUN echo '<h1>Hello, Docker!</h1>' > /usr/share/nginx/html/index.html
	DF
}

assert_clean() {
	local left
	left=$(ls "$IMG_STORE/.img/run/containers" 2>/dev/null)
	[ -z "$left" ] || fail "bundles left: $left"
	! grep -q " $IMG_STORE" /proc/self/mounts || fail "mounts left"
}

teardown() {
	grep " $BATS_TEST_TMPDIR" /proc/self/mounts | while read -r _ m _; do umount -l "$m"; done || true
}

@test "--help; bad options" {
	run --separate-stderr img-build --help
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: img-build "* ]]
	run --separate-stderr img-build
	[ "$status" -eq 2 ]
	run --separate-stderr img-build --compress xz .
	[ "$status" -eq 2 ]
}

@test "syntax errors name the line; nothing is stored" {
	mkdir ctx
	printf 'FROM scratch\n\nFOO bar\n' >ctx/Dockerfile
	run -1 --separate-stderr img-build -t x ctx
	[ "$stderr" = "img-build: Dockerfile:3: unknown instruction: FOO" ]
	printf 'FROM scratch\nRUN <<EOF\necho\nEOF\n' >ctx/Dockerfile
	run -1 --separate-stderr img-build -t x ctx
	[[ "$stderr" == "img-build: Dockerfile:2: RUN: heredocs"* ]]
	[ ! -e "$IMG_STORE/index.json" ]
}

@test "ADD of a URL and a missing COPY source fail with one line; no name" {
	mkdir ctx
	printf 'FROM scratch\nADD https://example.com/x.tar /x\n' >ctx/Dockerfile
	run -1 --separate-stderr img-build -t x ctx
	[[ "${stderr##*$'\n'}" == "img-build: step 2/2: ADD https://example.com/x.tar /x: ADD: 'https://example.com/x.tar': URLs are not fetched"* ]]
	[ "$(grep -c '^img-build:' <<<"$stderr")" -eq 1 ]
	printf 'FROM scratch\nCOPY missing.txt /x\n' >ctx/Dockerfile
	run -1 --separate-stderr img-build -t x ctx
	[ "${lines[0]:-}" = "" ]
	[[ "$stderr" == *"step 2/2: COPY missing.txt /x: 'missing.txt': no such file or directory in the context" ]]
	run -0 img-ls -q
	[ -z "$output" ]
}

@test "FROM scratch, COPY with .dockerignore, ENV, LABEL: config and files; the cache; SOURCE_DATE_EPOCH in two stores" {
	mkdir -p ctx/sub
	echo a >ctx/a.txt; echo b >ctx/sub/b.txt; echo log >ctx/sub/x.log
	printf '*.log\n**/*.log\n' >ctx/.dockerignore
	cat >ctx/Dockerfile <<-'DF'
	# syntax=docker/dockerfile:1
	ARG WHO=world
	FROM scratch
	ARG WHO
	ENV GREETING="hello $WHO" \
	    PATH=/bin
	LABEL org.example.k=v
	COPY --chmod=600 a.txt /data/
	COPY sub /data/sub
	WORKDIR /data
	USER 1000:1000
	EXPOSE 80/tcp
	VOLUME /data
	STOPSIGNAL SIGTERM
	CMD ["/bin/app"]
	DF
	run -0 --separate-stderr img-build -t s:1 --build-arg WHO=you ctx
	d1=$output
	[[ "$stderr" == *"STEP 1/12: FROM scratch"* ]]
	run -0 img-layers --files s:1
	[[ "$output" == *"0600	0:0	2	"*"data/a.txt"* ]]
	[[ "$output" == *"data/sub/b.txt"* ]]
	[[ "$output" != *"x.log"* ]]
	run -0 img-inspect s:1
	[[ "$output" == *'"GREETING=hello you"'* ]]
	[[ "$output" == *'"org.example.k": "v"'* ]]
	[[ "$output" == *'"WorkingDir": "/data"'* ]]
	[[ "$output" == *'"User": "1000:1000"'* ]]
	# nothing changed: the same digest, no new blob
	n=$(ls "$IMG_STORE/blobs/sha256" | wc -l)
	run -0 --separate-stderr img-build -t s:1 --build-arg WHO=you ctx
	[ "$output" = "$d1" ]
	[ "$(ls "$IMG_STORE/blobs/sha256" | wc -l)" -eq "$n" ]
	[[ "$stderr" == *"Using cache"* ]]
	# one file changed: a new image from the step that reads it
	echo B >ctx/sub/b.txt
	run -0 --separate-stderr img-build -t s:2 --build-arg WHO=you ctx
	[ "$output" != "$d1" ]
	# another store, the same digest
	IMG_STORE=$BATS_TEST_TMPDIR/other run -0 img-build --progress none --build-arg WHO=you ctx
	IMG_STORE=$BATS_TEST_TMPDIR/third run -0 img-build --progress none -t s:2 --build-arg WHO=you ctx
	[ "$output" != "$d1" ]
	echo b >ctx/sub/b.txt
	IMG_STORE=$BATS_TEST_TMPDIR/fourth run -0 img-build --progress none --build-arg WHO=you ctx
	[ "$output" = "$d1" ]
}

@test "the walkthrough: FROM base, RUN echo > index.html; img-run shows it; the RUN layer holds that file only" {
	need_root_runc
	make_base
	run -0 --separate-stderr img-build -t nginx:v3 ctx
	[[ "$output" == sha256:* ]]
	d=$output
	[[ "$stderr" == *"STEP 1/2: FROM base"* ]]
	[[ "$stderr" == *"STEP 2/2: RUN echo"* ]]
	run -0 img-run --rm nginx:v3 cat /usr/share/nginx/html/index.html
	[ "$output" = "<h1>Hello, Docker!</h1>" ]
	run -0 img-layers --files nginx:v3
	[ "$(printf '%s\n' "$output" | awk -F'\t' '$1 == 2 { print $2, $7 }')" = "$(printf 'dir usr\ndir usr/share\ndir usr/share/nginx\ndir usr/share/nginx/html\nfile usr/share/nginx/html/index.html')" ]
	assert_clean
	# again: nothing runs (the RUN would append to a file the test can see), same digest, fast
	cat >ctx/Dockerfile <<-'DF'
	FROM base
	RUN echo '<h1>Hello, Docker!</h1>' > /usr/share/nginx/html/index.html
	RUN echo ran >> /tmp/count; cat /tmp/count
	DF
	run -0 --separate-stderr img-build -t nginx:v3 ctx
	[ "$(grep -c '^ran$' <<<"$stderr")" -eq 1 ]
	d2=$output
	start=$(date +%s%N)
	run -0 --separate-stderr img-build -t nginx:v3 ctx
	end=$(date +%s%N)
	[ "$output" = "$d2" ]
	[ "$(grep -c '^ran$' <<<"$stderr")" -eq 0 ]
	[ $(( (end - start) / 1000000 )) -lt 500 ] || fail "rebuild took $(( (end - start) / 1000000 )) ms"
	assert_clean
}

@test "a failing RUN prints its output and the step, exits 1, names nothing, leaves no bundle or mount" {
	need_root_runc
	make_base
	cat >ctx/Dockerfile <<-'DF'
	FROM base
	ENV A=1
	RUN echo oops; exit 2
	DF
	run -1 --separate-stderr img-build -t bad ctx
	[[ "$stderr" == *"oops"* ]]
	[[ "$stderr" == *"img-build: step 3/3: RUN echo oops; exit 2: exit status 2" ]]
	run -1 img-inspect bad
	assert_clean
}

@test "multi-stage COPY --from and a RUN that deletes a base file: the whiteout" {
	need_root_runc
	make_base
	echo hi >ctx/a.txt
	cat >ctx/Dockerfile <<-'DF'
	FROM base AS build
	RUN echo made > /made
	FROM base
	COPY --from=build /made /opt/made
	COPY a.txt /opt/
	RUN rm /etc/tiny-release && cat /opt/made /opt/a.txt
	DF
	run -0 --separate-stderr img-build -t multi ctx
	[[ "$stderr" == *"made"*"hi"* ]]
	run -0 img-layers --files multi
	[[ "$output" == *"whiteout"*"etc/tiny-release"* ]]
	[[ "$output" == *"opt/made"* ]]
	run -0 img-run --rm multi /bin/sh -c 'cat /opt/made; test -e /etc/tiny-release || echo gone'
	[ "$output" = "$(printf 'made\ngone')" ]
	assert_clean
}

# ctx: a Dockerfile with every instruction, a context with globs, an ignored file and a tar.
make_every() {
	mkdir -p ctx/sub tarsrc/d
	echo a >ctx/a.txt; echo b >ctx/b.txt; echo c >ctx/sub/c.conf; echo skip >ctx/sub/skip.log
	echo t1 >tarsrc/d/t1; ln -s t1 tarsrc/d/t1-link
	tar --owner=0 --group=0 -C tarsrc -cf ctx/data.tar d
	printf 'sub/*.log\n' >ctx/.dockerignore
	cat >ctx/Dockerfile <<-'DF'
	ARG BASE=base
	FROM ${BASE} AS build
	ARG MSG=default
	RUN ["/bin/sh", "-c", "mkdir -p /out && echo \"$MSG\" > /out/msg"]
	RUN echo made > /out/made

	FROM base
	ARG MSG
	ENV APP_HOME=/app PATH=/usr/local/bin:/bin
	LABEL org.example.title="every instruction" org.example.version=1
	WORKDIR $APP_HOME
	COPY --from=build /out/ ./from-build/
	COPY --chown=1000:1000 --chmod=640 *.txt ./
	COPY sub/ ./sub/
	ADD data.tar /opt/data/
	RUN rm /etc/tiny-release && rm -r /opt/old && echo "$MSG" > built-with
	SHELL ["/bin/sh", "-e", "-c"]
	RUN echo shell > shell-form
	USER 1000:1000
	EXPOSE 80/tcp 53/udp
	VOLUME ["/app/data"]
	STOPSIGNAL SIGQUIT
	HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["/bin/true"]
	ONBUILD RUN echo child
	ENTRYPOINT ["/bin/sh", "-c"]
	CMD ["cat /app/built-with"]
	DF
}

# The config fields a Dockerfile sets, from img-inspect --config (Env and Labels sorted).
config_fields() {
	img-inspect --config "$1" | jq -S '{architecture, os} + (.config | {User, ExposedPorts,
		Env: (.Env | sort), Entrypoint, Cmd, Volumes, WorkingDir, Labels, StopSignal,
		Healthcheck, OnBuild, Shell})'
}

@test "every instruction: config fields, the whiteouts, the ADDed tar; buildah bud gives the same tree and fields" {
	need_root_runc
	make_base
	make_every
	run -0 --separate-stderr img-build -t every --build-arg MSG=hello ctx
	[[ "$stderr" == *"STEP 24/24: CMD"* ]]
	run -0 img-layers --files every
	[[ "$output" == *$'whiteout\t0000\t0:0\t0\t'*$'\tetc/tiny-release'* ]]
	[[ "$output" == *$'whiteout\t0000\t0:0\t0\t'*$'\topt/old'* ]]
	[[ "$output" == *$'file\t0640\t1000:1000\t2\t'*$'\tapp/a.txt'* ]]
	[[ "$output" == *$'file\t0640\t1000:1000\t2\t'*$'\tapp/b.txt'* ]]
	[[ "$output" == *$'\tapp/from-build/msg'* ]]
	[[ "$output" == *$'\topt/data/d/t1-link -> t1'* ]]
	[[ "$output" != *"skip.log"* ]]
	[[ "$output" != *"data.tar"* ]]
	cfg=$(img-inspect --config every)
	c() { jq -c "$1" <<<"$cfg"; }
	[ "$(c .config.Env)" = '["APP_HOME=/app","PATH=/usr/local/bin:/bin"]' ]
	[ "$(c .config.Labels)" = '{"org.example.title":"every instruction","org.example.version":"1"}' ]
	[ "$(c .config.WorkingDir)" = '"/app"' ]
	[ "$(c .config.User)" = '"1000:1000"' ]
	[ "$(c .config.ExposedPorts)" = '{"80/tcp":{},"53/udp":{}}' ]
	[ "$(c .config.Volumes)" = '{"/app/data":{}}' ]
	[ "$(c .config.StopSignal)" = '"SIGQUIT"' ]
	[ "$(c .config.Healthcheck)" = '{"Interval":30000000000,"Timeout":5000000000,"Retries":3,"Test":["CMD","/bin/true"]}' ]
	[ "$(c .config.Shell)" = '["/bin/sh","-e","-c"]' ]
	[ "$(c .config.OnBuild)" = '["RUN echo child"]' ]
	[ "$(c .config.Entrypoint)" = '["/bin/sh","-c"]' ]
	[ "$(c .config.Cmd)" = '["cat /app/built-with"]' ]
	[ "$(c '[.history[] | select(.empty_layer != true)] | length')" = 8 ]
	[ "$(c '.rootfs.diff_ids | length')" = 8 ]
	run -0 img-run --rm every
	[ "$output" = hello ]
	run -0 img-run --rm every 'cat shell-form from-build/made; id -u'
	[ "$output" = "$(printf 'shell\nmade\n1000')" ]
	assert_clean

	need buildah
	# buildah in its own vfs store, the base image from ours; --format docker keeps SHELL,
	# HEALTHCHECK and ONBUILD, which the OCI config has no field for
	B=(buildah --root "$BATS_TEST_TMPDIR/broot" --runroot "$BATS_TEST_TMPDIR/brun" --storage-driver vfs)
	img-save -q -o base.tar base
	"${B[@]}" pull -q docker-archive:base.tar >bid 2>&1 || fail "buildah pull: $(cat bid)"
	"${B[@]}" bud -q --format docker --isolation chroot --build-arg MSG=hello -t every ctx >bud.out 2>&1 ||
		fail "buildah bud: $(cat bud.out)"
	"${B[@]}" push -q every docker-archive:bud.tar:every:latest
	IMG_STORE=$BATS_TEST_TMPDIR/bstore img-load -q bud.tar >/dev/null
	mkdir mine theirs
	img-export every | tar --numeric-owner -p -C mine -xf -
	IMG_STORE=$BATS_TEST_TMPDIR/bstore img-export every | tar --numeric-owner -p -C theirs -xf -
	python3 "$FIX/treesum.py" mine >mine.sum
	# buildah's RUN leaves its mount points behind (/dev, /proc, /sys, /run and empty
	# /etc/hostname, /etc/hosts, /etc/resolv.conf); runc's are left out of img's layers
	python3 "$FIX/treesum.py" theirs | grep -Ev $'^(dev|proc|sys|run|etc/hostname|etc/hosts|etc/resolv.conf)\t' >theirs.sum
	grep -q $'^app/from-build/msg\t' theirs.sum
	diff theirs.sum mine.sum || fail "the tree differs from buildah's"
	# the fields the Dockerfile sets; not compared: buildah's own label io.buildah.version,
	# its order of Env (PATH first), history (buildah bud commits one layer and its own
	# created_by texts) and timestamps
	config_fields every >mine.json
	IMG_STORE=$BATS_TEST_TMPDIR/bstore config_fields every | jq -S 'del(.Labels["io.buildah.version"])' >theirs.json
	diff theirs.json mine.json || fail "config differs from buildah's"
}

@test "IMG_NO_OVERLAY=1: RUN layers from comparing snapshots are the overlay's (the walkthrough, deletes, links, chmod)" {
	need_root_runc
	make_base
	run -0 img-build --progress none -t ov ctx
	IMG_NO_OVERLAY=1 run -0 img-build --progress none --no-cache -t snap ctx
	[ "$(img-inspect --config snap | jq -c .rootfs.diff_ids)" = "$(img-inspect --config ov | jq -c .rootfs.diff_ids)" ]
	cat >ctx/Dockerfile <<-'DF'
	FROM base
	RUN rm /etc/tiny-release && rm -r /opt/old && ln /etc/passwd /etc/passwd2 && chmod 600 /etc/group && ln -s /bin/busybox /bin/vi && mkdir -p /new/a && echo x > /new/a/x
	DF
	run -0 --separate-stderr img-build --no-cache -t ov ctx
	[[ "$stderr" != *"note:"* ]]
	IMG_NO_OVERLAY=1 run -0 --separate-stderr img-build --no-cache -t snap ctx
	[[ "$stderr" != *"note:"* ]]
	run -0 img-layers --files snap
	files=$(printf '%s\n' "$output" | awk -F'\t' '$1 == 2 { print $2, $7 }')
	[ "$files" = "$(printf '%s\n' 'dir bin' 'symlink bin/vi -> /bin/busybox' 'dir etc' 'file etc/group' \
		'file etc/passwd' 'hardlink etc/passwd2 link to etc/passwd' 'whiteout etc/tiny-release' 'dir new' \
		'dir new/a' 'file new/a/x' 'dir opt' 'whiteout opt/old')" ] || fail "layer: $files"
	[ "$(img-inspect --config snap | jq -c .rootfs.diff_ids)" = "$(img-inspect --config ov | jq -c .rootfs.diff_ids)" ]
	# a RUN that changes nothing: an empty layer (as docker writes one, and buildah a layer)
	printf 'FROM base\nRUN true\n' >ctx/Dockerfile
	empty=sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
	for no in 0 1; do
		IMG_NO_OVERLAY=$no run -0 img-build --progress none --no-cache -t nop ctx
		[ "$(img-inspect --config nop | jq -c '.rootfs.diff_ids[-1], .history[-1].empty_layer')" = "$(printf '"%s"\nnull' $empty)" ]
	done
	assert_clean
}
