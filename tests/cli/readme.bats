#!/usr/bin/env bats
# The README's recipes, taken from README.md as they are written there and run: the air-gap
# recipe across two stores and two registries on loopback, and the Makefile recipe.
bats_require_minimum_version 1.5.0
load ../lib/helper
load ../lib/registry

README="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/README.md"

teardown() { stop_registries; }

# The indented code block that follows the heading "## $1", with its indent removed.
block() {
	awk -v h="## $1" '
		$0 == h { on = 1; next }
		on && /^## / { exit }
		on && /^    / { sub(/^    /, ""); print; seen = 1; next }
		on && seen && /^$/ { print; next }
		on && seen && !/^    / && !/^$/ { exit }
	' "$README"
}

@test "README: the air-gap recipe, as written, across two stores and two registries" {
	need docker-registry python3 curl
	local src dst script side
	# the connected side's registry (registry.example.com) holds team/app:2, which is
	# team/app:1 (that the offline side has) plus one layer
	start_registry "$BATS_TEST_TMPDIR/reg-src"
	src=$REG
	start_registry "$BATS_TEST_TMPDIR/reg-dst"
	dst=$REG
	mkdir -p app2/srv
	head -c 3000000 /dev/urandom > app2/srv/data.bin
	IMG_STORE=$PWD/pub img-import -q "$PEERS/src/tiny-rootfs.tar" team/app:1 >/dev/null
	IMG_STORE=$PWD/pub img-import -q -b team/app:1 app2 team/app:2 >/dev/null
	IMG_STORE=$PWD/pub img-push -q team/app:2 "$src/team/app:2" >/dev/null
	IMG_STORE=$PWD/offline img-import -q "$PEERS/src/tiny-rootfs.tar" team/app:1 >/dev/null

	script=$(block "Carrying images across an air gap")
	[ -n "$script" ] || fail "no recipe found in README.md"
	[[ "$script" == *"img-save --have"* ]] || fail "$script"
	# each "# offline side" / "# connected side" part runs with that side's store
	script=$(sed -e "s|registry\.example\.com|$src|g" -e "s|registry\.internal:5000|$dst|g" \
		-e 's|^# offline side.*|export IMG_STORE=$PWD/offline|' \
		-e 's|^# connected side.*|export IMG_STORE=$PWD/online|' <<<"$script")
	run -0 --separate-stderr sh -euc "$script"
	[[ "$output" == *"$src/team/app:2"* ]] || fail "$output"
	# the delta carried the new layer and not the base
	[ "$(stat -c %s app2-delta.tgz)" -lt $((3000000 + 65536)) ] || fail "delta too big"
	[ "$(stat -c %s app2-delta.tgz)" -gt 3000000 ] || fail "delta too small: the new layer is not in it"
	# what the private registry has is what the public one has, byte for byte
	[ "$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$dst/v2/team/app/manifests/2" | sha256sum)" = \
	  "$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$src/v2/team/app/manifests/2" | sha256sum)" ]
}

@test "README: the Makefile recipe builds, is up to date after, and is reproducible" {
	need make gzip git
	local recipe sum
	recipe=$(block "Repackaging images in a Makefile")
	[[ "$recipe" == *"app.tgz:"* ]] || fail "no recipe found in README.md: $recipe"
	printf '%s\n' "$recipe" > Makefile
	grep -q "$(printf '^\t')img-save" Makefile || fail "the recipe lines lost their tab"
	cp "$PEERS/src/tiny-rootfs.tar" rootfs.tar && gzip -n rootfs.tar
	mkdir app && printf '#!/bin/sh\necho run\n' > app/run && chmod 755 app/run
	git init -q . && git add -A && git -c user.email=t@t -c user.name=t commit -q -m x
	unset IMG_STORE SOURCE_DATE_EPOCH
	run -0 make -s
	[ -s app.tgz ]
	sum=$(sha256sum < app.tgz)
	run -0 make
	[[ "$output" == *"up to date"* ]] || fail "$output"
	# from nothing again: the same bytes
	rm -rf app.tgz .store
	run -0 make -s
	[ "$(sha256sum < app.tgz)" = "$sum" ]
	# and what it holds loads, with the recipe's config
	run -0 img-load -S loaded < app.tgz
	[[ "$output" == "Loaded image: myapp:1" ]] || fail "$output"
	[ "$(img-inspect -S loaded myapp:1 | jq -c .Config.Cmd)" = '["/app/run"]' ]
	[ "$(img-inspect -S loaded myapp:1 | jq -r '.Config.Env | join(",")')" = MODE=prod ]
}

@test "make demo: every step of the walkthrough passes, and says what it shows" {
	need jq
	run -0 --separate-stderr env BUILD="$IMG_BIN" DEMO_DIR="$BATS_TEST_TMPDIR/demo" \
		sh "$BATS_TEST_DIRNAME/../demo.sh"
	[ -z "$stderr" ] || fail "$stderr"
	[[ "$output" == *"Loaded image: demo/web:1"* ]] || fail "$output"
	[[ "$output" == *"Loaded image: demo/web:2"* ]] || fail "$output"
	[[ "$output" == *"same manifest digest"* ]] || fail "$output"
	[[ "$output" == *"A usr/share/nginx/html/video.bin"* ]] || fail "$output"
	if [ "$(id -u)" = 0 ] && command -v runc >/dev/null; then
		[[ "$output" == *"<h1>Hello, Docker!</h1>"* ]] || fail "$output"
		[[ "$output" == *"STEP 2/3: RUN mkdir -p /usr/share/nginx/html"* ]] || fail "$output"
		[ "$(grep -c '^<h1>Hello, Docker!</h1>$' <<<"$output")" = 2 ] || fail "$output"
	fi
	if command -v docker-registry >/dev/null; then
		[[ "$output" == *"Pulled: 127.0.0.1:"*"/demo/web:2@sha256:"* ]] || fail "$output"
	fi
	[[ "$output" == *"The demo ran "*" steps."* ]] || fail "$output"
	# a failing step stops it with a non-zero status, naming the step
	# (a build directory whose img-save fails)
	mkdir bin
	for t in "$IMG_BIN"/img-*; do ln -s "$t" bin/; done
	rm bin/img-save && printf '#!/bin/sh\nexit 3\n' > bin/img-save && chmod 755 bin/img-save
	run -1 --separate-stderr env BUILD="$PWD/bin" DEMO_DIR="$BATS_TEST_TMPDIR/demo2" sh "$BATS_TEST_DIRNAME/../demo.sh"
	[[ "$stderr" == *"make demo: step "*" failed (exit status 3): img-save demo/web:1 | gzip"* ]] || fail "$stderr"
}
