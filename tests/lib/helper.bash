# Shared set-up for the bats tests. Tools come from $IMG_BIN (default: ./build).
: "${IMG_BIN:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}"
PATH="$IMG_BIN:$PATH"
FIX="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/tests/fixtures"
# Archives written by the peers (read-only; tests copy what they change): tests/fixtures/peers.
PEERS="$FIX/peers"
export LC_ALL=C
# --progress auto prints plain lines when CI is set; tests want the same output anywhere
unset CI

setup() {
	export IMG_STORE="$BATS_TEST_TMPDIR/store"
	export SOURCE_DATE_EPOCH=1700000000
	cd "$BATS_TEST_TMPDIR"
}

# Skip the test (or, in setup_file, the file) when a peer program is missing.
need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || skip "$p not installed"
	done
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

# A copy of the archive SRC as DST with its JSON documents (manifest.json, index.json,
# repositories, oci-layout, every *.json) after all its other entries: a reader learns
# which files are layers only once they have streamed past.
docs_last() {
	python3 - "$1" "$2" <<-'EOF2'
	import sys, tarfile
	def doc(m):
	    n = m.name.lstrip('./')
	    return n in ('manifest.json', 'index.json', 'repositories', 'oci-layout') or n.endswith('.json')
	with tarfile.open(sys.argv[1]) as s, tarfile.open(sys.argv[2], 'w', format=tarfile.PAX_FORMAT) as d:
	    ms = s.getmembers()
	    for m in [m for m in ms if not doc(m)] + [m for m in ms if doc(m)]:
	        d.addfile(m, s.extractfile(m) if m.isfile() else None)
	EOF2
}
