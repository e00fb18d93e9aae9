# Shared set-up for the bats tests. Tools come from $IMG_BIN (default: ./build).
: "${IMG_BIN:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}"
PATH="$IMG_BIN:$PATH"
FIX="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/tests/fixtures"
# Peer fixtures (read-only): beside the checkout, as laid out for CI and sessions.
PEERS="${PEERS:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/../shared/fixtures/peers}"
export LC_ALL=C
# --progress auto prints plain lines when CI is set; tests want the same output anywhere
unset CI

setup() {
	export IMG_STORE="$BATS_TEST_TMPDIR/store"
	export SOURCE_DATE_EPOCH=1700000000
	cd "$BATS_TEST_TMPDIR"
}

# Fail with a message.
fail() { printf '%s\n' "$*" >&2; return 1; }

# No temp files left in a directory tree (names with .XXXXXX suffixes or in .img/tmp).
assert_no_temp() {
	local d=$1 left
	left=$(find "$d" -name '*.??????' -newer "$BATS_TEST_TMPDIR" 2>/dev/null; find "$d" -path '*/.img/tmp/*' 2>/dev/null)
	[ -z "$left" ] || fail "temp files left: $left"
}

# Import the peers' tiny rootfs as NAME (default tiny:1).
import_tiny() {
	img-import -q "$PEERS/src/tiny-rootfs.tar" "${1:-tiny:1}" >/dev/null
}
