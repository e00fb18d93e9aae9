#!/usr/bin/env bats
# make install DESTDIR=...: programs, man pages and completions where Debian expects them;
# an installed program runs and an installed page renders.
bats_require_minimum_version 1.5.0
load ../lib/helper

TOP="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"

@test "make install DESTDIR=... PREFIX=/usr, then uninstall" {
	d=$BATS_TEST_TMPDIR/root
	run -0 make -s -C "$TOP" BUILD="$IMG_BIN" install DESTDIR="$d" PREFIX=/usr
	for t in "$IMG_BIN"/img-*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		n=$(basename "$t")
		[ -x "$d/usr/bin/$n" ] || fail "$n not installed"
		[ -f "$d/usr/share/man/man1/$n.1" ] || fail "$n.1 not installed"
		[ -e "$d/usr/share/bash-completion/completions/$n" ] || fail "no bash completion for $n"
	done
	[ -f "$d/usr/share/man/man7/img.7" ]
	[ -f "$d/usr/share/zsh/vendor-completions/_img" ]
	run -0 "$d/usr/bin/img-ls" --version
	[[ "$output" == "img-ls "* ]] || fail "$output"
	if command -v man >/dev/null; then
		run -0 env MANWIDTH=80 man -l "$d/usr/share/man/man1/img-load.1"
		[[ "$output" == *"img-load - load image archives into the store"* ]] || fail "$output"
	elif command -v mandoc >/dev/null; then
		run -0 mandoc "$d/usr/share/man/man1/img-load.1"
		[[ "$output" == *"load image archives into the store"* ]] || fail "$output"
	fi
	run -0 make -s -C "$TOP" BUILD="$IMG_BIN" uninstall DESTDIR="$d" PREFIX=/usr
	[ -z "$(find "$d" -type f -o -type l)" ] || fail "left: $(find "$d" -type f -o -type l)"
}
