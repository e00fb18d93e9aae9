#!/usr/bin/env bats
# What every program promises (design.md §5, style.md §4, §12, §13): --help, --version,
# usage errors, and man pages and completions that agree with the options.
bats_require_minimum_version 1.5.0
load ../lib/helper

TOP="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"

tools() {
	local t
	for t in "$IMG_BIN"/img-*; do
		[ -x "$t" ] && basename "$t"
	done
}

# Synopsis lines of a tool: its usage lines, without "usage: " and indentation.
usage_lines() {
	"$1" --help | awk 'NR == 1 { sub(/^usage: /, ""); print; next }
		/^       img-/ { sub(/^ +/, ""); print; next } { exit }'
}

# SYNOPSIS of a man page source, scdoc markup removed.
man_synopsis() {
	awk '/^# SYNOPSIS/ { on = 1; next } /^# / { on = 0 } on' "$TOP/man/$1.1.scd" |
		sed 's/[*_\\]//g; s/++$//; s/[[:space:]]*$//' | grep -v '^$'
}

@test "there is at least one program" {
	[ -n "$(tools)" ]
}

@test "--help prints usage and options on stdout, exit 0, nothing on stderr" {
	for t in $(tools); do
		run --separate-stderr "$t" --help
		[ "$status" -eq 0 ] || fail "$t --help: exit $status"
		[ -z "$stderr" ] || fail "$t --help wrote to stderr: $stderr"
		[[ "${lines[0]}" == "usage: $t "* ]] || fail "$t --help: first line '${lines[0]}'"
		[[ "$output" == *"--help"* ]] || fail "$t --help does not list --help"
	done
}

@test "--version prints the name and version" {
	for t in $(tools); do
		run --separate-stderr "$t" --version
		[ "$status" -eq 0 ] || fail "$t --version: exit $status"
		[[ "$output" =~ ^$t\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "$t --version: '$output'"
	done
}

@test "a bad option prints usage on stderr and exits 2" {
	for t in $(tools); do
		run --separate-stderr "$t" --no-such-option
		[ "$status" -eq 2 ] || fail "$t: bad option exit $status"
		[ -z "$output" ] || fail "$t: bad option wrote to stdout"
		[[ "$stderr" == *"usage: $t"* ]] || fail "$t: no usage on stderr: $stderr"
	done
}

@test "an invalid --platform: one line, the same from every program, usage, exit 2" {
	local n=0
	for t in $(tools); do
		"$t" --list-options | grep -qx -- '--platform=' || continue
		n=$((n + 1))
		run -2 --separate-stderr "$t" --platform 'linux/amd64/v2/x' IMAGE OTHER
		[ -z "$output" ] || fail "$t: wrote to stdout: $output"
		[[ "${stderr_lines[0]}" == "$t: invalid platform 'linux/amd64/v2/x': "?* ]] ||
			fail "$t: '${stderr_lines[0]}'"
		[[ "${stderr_lines[1]}" == "usage: $t "* ]] || fail "$t: no usage: $stderr"
	done
	[ "$n" -ge 11 ]
}

@test "an invalid image reference: named once, with docker's reason, exit 1" {
	export IMG_STORE=$BATS_TEST_TMPDIR/store
	img-load -q "$PEERS/tiny1-oci.tar"
	for t in img-rm img-pull img-push; do
		run -1 --separate-stderr "$t" Bad:Name
		[ "$stderr" = "$t: Bad:Name: repository name must be lowercase" ] || fail "$t: $stderr"
	done
	run -1 --separate-stderr img-pull 'a@@b'
	[ "$stderr" = "img-pull: a@@b: invalid reference format" ] || fail "$stderr"
}

@test "every option is in --help, in the man page, and in both completions" {
	for t in $(tools); do
		help=$("$t" --help)
		opts=$("$t" --list-options)
		[ -n "$opts" ] || fail "$t --list-options is empty"
		[ -f "$TOP/man/$t.1.scd" ] || fail "$t has no man page source"
		[ -f "$TOP/man/$t.1" ] || fail "$t has no generated man page"
		for o in $opts; do
			name=${o%=}
			grep -qE -- "(^|[^a-z-])$name([^a-z-]|\$)" <<<"$help" || fail "$t: $name not in --help"
			grep -qF -- "$name" "$TOP/man/$t.1.scd" || fail "$t: $name not in man/$t.1.scd"
			fn=_$(tr - _ <<<"$t")
			sed -n "/^$fn()/,/^complete /p" "$TOP/completions/img.bash" | grep -qF -- "$o" ||
				fail "$t: $o not in completions/img.bash"
			sed -n "/^$t)/,/;;/p" "$TOP/completions/_img" | grep -qF -- "'$o[" ||
				fail "$t: $o not in completions/_img"
		done
	done
}

@test "man page SYNOPSIS equals the usage lines" {
	for t in $(tools); do
		diff <(usage_lines "$t") <(man_synopsis "$t") || fail "$t: man SYNOPSIS differs from usage"
	done
}

@test "completions are current (regenerated from the programs they complete)" {
	mkdir gen
	sh "$TOP/completions/gen.sh" "$IMG_BIN" gen
	diff "$TOP/completions/img.bash" gen/img.bash || fail "completions/img.bash is stale: make completions"
	diff "$TOP/completions/_img" gen/_img || fail "completions/_img is stale: make completions"
	bash -n gen/img.bash
	zsh -n gen/_img 2>/dev/null || ! command -v zsh >/dev/null
}

@test "bash completion offers a tool's options" {
	for t in $(tools); do
		COMP_WORDS=("$t" --he) COMP_CWORD=1 COMPREPLY=()
		source "$TOP/completions/img.bash"
		fn=_$(tr - _ <<<"$t")
		"$fn"
		[[ " ${COMPREPLY[*]} " == *" --help "* ]] || fail "$t: completion of --he gave '${COMPREPLY[*]}'"
	done
}

@test "the fixtures are in the checkout, as checksummed; nothing reads outside it" {
	(cd "$FIX/peers" && sha256sum --quiet -c SHA256SUMS) || fail "tests/fixtures/peers differs from SHA256SUMS"
	for b in "$FIX"/peers/tiny-oci-layout/blobs/sha256/*; do
		[ "$(sha256sum < "$b" | cut -d' ' -f1)" = "$(basename "$b")" ] || fail "$b: digest mismatch"
	done
	s=shared   # the pattern spelled so that this file does not match it
	run grep -rlE "\.\./$s|/$s/fixtures" "$TOP/tests" "$TOP/bench" "$TOP/Makefile" "$TOP/.ci"
	[ "$status" = 1 ] || fail "these read outside the checkout: $output"
}
