#!/bin/sh
# Every function a file of common/ exports is named after the file (common/README.md):
# img_<file>_..., the file's name without .c and with '-' written '_'. Read from the
# objects themselves (nm: the defined text symbols, T, of libimg.a and of cli.o), so that
# a function the rule misses cannot hide in a macro or a wrapped line.
# Usage: sh tests/prefix.sh [BUILD]   (default build). Prints one TAP line ("ok" or
# "not ok", then each name that breaks the rule) for tests/run.sh.
set -u
BUILD=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
what="every function common/ exports is named img_<file>_ (common/README.md)"

# The exceptions common/README.md documents, all in util.c: the allocators that die on
# out of memory and the library's one error convention.
EXCEPT="util:xmalloc util:xcalloc util:xrealloc util:xreallocarray util:xstrdup
util:xstrndup util:xasprintf util:img_seterr util:img_seterr_errno util:img_seterr_prefix
util:img_fail util:img_errmsg"

objs="$BUILD/libimg.a"
[ -f "$BUILD/common/cli.o" ] && objs="$objs $BUILD/common/cli.o"
if [ ! -f "$BUILD/libimg.a" ]; then
	echo "not ok - $what: no $BUILD/libimg.a (make first)"
	exit 1
fi
# nm prints "member.o:" before an archive member's symbols, "file.o:" before a file's
# when given several files; each function as "address T name".
bad=$(nm --defined-only $objs 2>/dev/null |
	awk -v except="$EXCEPT" '
		BEGIN { n = split(except, e, /[ \n]+/); for (i = 1; i <= n; i++) ok[e[i]] = 1 }
		/\.o:$/ { f = $1; sub(/.*\//, "", f); sub(/\.o:$/, "", f); m = f; gsub(/-/, "_", m); next }
		NF == 3 && $2 == "T" {
			total++
			if (index($3, "img_" m "_") == 1 || ((f ":" $3) in ok)) next
			print "# common/" f ".c: " $3
		}
		END { if (!total) print "# no functions found: nm failed?" }')
if [ -n "$bad" ]; then
	echo "not ok - $what"
	echo "$bad"
	exit 1
fi
echo "ok - $what"
