#!/bin/bash
# make bench: img against its peers and the machine's limits, side by side, in one run.
# Data is generated once (fixed seed) into $BENCH_DIR; each operation then runs for img and
# for each of its references in alternation (A B A B ...), one warm-up and $RUNS measured
# runs each, and the medians are compared. QUICK=1 runs a small version; ONLY="op ..."
# runs only the operations named.
# Ratio = reference time / img time: above 1 means img is faster.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN="$top/$BUILD"
QUICK=${QUICK:-}
RUNS=${RUNS:-3}
if [ -n "$QUICK" ] && [ "$QUICK" != 0 ]; then
	BENCH_DIR=${BENCH_DIR:-$top/$BUILD/bench-quick}
	ROOT_MB=30 BIG_MB=20 SMALL=2000 MANY=20000
else
	QUICK=
	BENCH_DIR=${BENCH_DIR:-$top/$BUILD/bench}
	ROOT_MB=200 BIG_MB=550 SMALL=20000 MANY=200000
fi
export PATH="$BIN:$PATH"
export SOURCE_DATE_EPOCH=1700000000
D=$BENCH_DIR
mkdir -p "$D"

die() { echo "bench: $*" >&2; exit 1; }
for c in skopeo umoci igzip zstd gzip openssl tar /usr/bin/time cc; do
	command -v "$c" >/dev/null || die "'$c' is missing: the bench needs every peer (run make deps)"
done
for t in img-import img-save img-load img-gc img-diff img-layers img-export img-unpack img-run; do
	[ -x "$BIN/$t" ] || die "$BIN/$t is missing (make all)"
done

# ---- data, made once ----
gen="$D/gendata"
[ "$gen" -nt "$top/bench/gendata.c" ] || cc -O2 -o "$gen" "$top/bench/gendata.c" -lcrypto
stamp="$D/.data-$ROOT_MB-$BIG_MB-$SMALL"
if [ ! -e "$stamp" ]; then
	echo "bench: generating data in $D (once)" >&2
	rm -rf "$D/rootfs" "$D/layer" "$D/one" "$D/store" "$D/gcstore" "$D"/.data-*
	"$gen" rootfs "$D/rootfs" "$ROOT_MB"
	"$gen" layer "$D/layer" "$BIG_MB" "$SMALL"
	mkdir -p "$D/one" && echo one more file > "$D/one/one.txt"
	tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -C "$D/rootfs" -cf "$D/rootfs.tar" .
	S="$D/store"
	img-import -q -S "$S" "$D/rootfs.tar" bench/base >/dev/null
	img-import -q -S "$S" -b bench/base "$D/layer" bench/big >/dev/null
	img-import -q -S "$S" -b bench/big "$D/one" bench/big1 >/dev/null
	img-save -q -S "$S" -o "$D/big.tar" bench/big
	# the big layer, decompressed, for tar -tvf
	top_layer=$(skopeo inspect --raw "oci:$S:docker.io/bench/big:latest" | jq -r '.layers[-1].digest' | cut -d: -f2)
	gzip -dc < "$S/blobs/sha256/$top_layer" > "$D/biglayer.tar"
	"$gen" store "$D/gcstore" 1000 8
	touch "$stamp"
fi
S="$D/store"
# for img-unpack and img-run (made once, after the data above)
if [ ! -e "$D/.run-data" ]; then
	img-export -S "$S" -o "$D/flat.tar" bench/big
	img-import -q -S "$S" -b bench/big "$top/tests/fixtures/peers/src/tiny-rootfs.tar" bench/run >/dev/null
	touch "$D/.run-data"
fi
# an image of $MANY small files and the same plus one file (what grows with paths: img-diff)
if [ ! -e "$D/.many-$MANY" ]; then
	echo "bench: generating $MANY files in $D/many (once)" >&2
	rm -rf "$D/many" "$D/manystore" "$D"/.many-*
	"$gen" files "$D/many" "$MANY"
	img-import -q -S "$D/manystore" "$D/many" bench/many >/dev/null
	img-import -q -S "$D/manystore" -b bench/many "$D/one" bench/many1 >/dev/null
	rm -rf "$D/many"
	touch "$D/.many-$MANY"
fi
echo "bench: data: rootfs.tar $(du -m "$D/rootfs.tar" | cut -f1) MB, big.tar $(du -m "$D/big.tar" | cut -f1) MB" >&2

# ---- measuring ----
# run1 LABEL SETUP CMD: one timed run of CMD (after the untimed SETUP); appends
# "LABEL elapsed user+sys maxrss_kb" to $D/raw.
run1() {
	local label=$1 setup=$2 cmd=$3 out
	sh -c "$setup" >/dev/null 2>&1 || true
	out=$(/usr/bin/time -f '%e %U %S %M' sh -c "$cmd" 2>&1 >/dev/null) || true
	case $out in *"exited with non-zero status"*) die "$label: '$cmd' failed: $out" ;; esac
	set -- $(printf '%s\n' "$out" | tail -n 1)
	[ $# -eq 4 ] || die "$label: '$cmd' failed: $out"
	echo "${label// /_} $1 $(awk -v a="$2" -v b="$3" 'BEGIN { print a + b }') $4" >> "$D/raw"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v l="${1// /_}" -v c="$2" '$1 == l { print $c }' "$D/raw" | median; }

# op NAME IMGSETUP IMGCMD [REFLABEL REFSETUP REFCMD]...: alternate img and references.
op() {
	local name=$1 isetup=$2 icmd=$3 i
	shift 3
	# ONLY="pull push": run only those operations
	[ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $name "* ]] || return 0
	echo "bench: $name" >&2
	for i in $(seq 0 "$RUNS"); do
		local lab="img:$name" args=("$@")
		[ "$i" -eq 0 ] && lab="warm"
		run1 "$lab" "$isetup" "$icmd"
		while [ ${#args[@]} -gt 0 ]; do
			local l=${args[0]} s=${args[1]} c=${args[2]}
			args=("${args[@]:3}")
			[ "$i" -eq 0 ] && { run1 warm "$s" "$c"; continue; }
			run1 "ref:$name:$l" "$s" "$c"
		done
	done
}

rm -f "$D/raw"
T="$D/tmp"
mkdir -p "$T"
blobs=$(ls "$S"/blobs/sha256/* | tr '\n' ' ')

op import-gzip "rm -rf $T/s" "img-import -q -S $T/s $D/rootfs.tar x" \
	"gzip -6" "" "gzip -6 < $D/rootfs.tar > /dev/null" \
	"igzip -1" "" "igzip -1 -c < $D/rootfs.tar > /dev/null"
op import-zstd "rm -rf $T/s" "img-import -q -S $T/s --compress zstd $D/rootfs.tar x" \
	"zstd -3" "" "zstd -3 -T1 -q -c < $D/rootfs.tar > /dev/null"
op save "" "img-save -q -S $S bench/big | cat > /dev/null" \
	"skopeo copy" "rm -f $T/sk.tar" "skopeo copy -q oci:$S:docker.io/bench/big:latest docker-archive:$T/sk.tar" \
	"tar | cat" "" "tar -cf - -C $S blobs | cat > /dev/null"
op load "rm -rf $T/s" "cat $D/big.tar | img-load -q -S $T/s" \
	"skopeo copy" "rm -rf $T/skdir" "skopeo copy -q docker-archive:$D/big.tar oci:$T/skdir:x" \
	"openssl dgst" "" "openssl dgst -sha256 $D/big.tar"
op gc-check "" "img-gc -S $S --check" \
	"openssl dgst" "" "openssl dgst -sha256 $blobs"
op diff "" "img-diff -S $S bench/big bench/big1; [ \$? -eq 1 ]"
op diff-paths "" "img-diff -S $D/manystore bench/many bench/many1; [ \$? -eq 1 ]"
op layers-files "" "img-layers -S $S --files=1 bench/big" \
	"tar -tvf" "" "tar -tvf $D/biglayer.tar"
op gc-1000 "" "img-gc -S $D/gcstore -n"
# Each run unpacks into a new directory, all removed after the op: on ext4 (without a journal,
# as here) a new inode skips those freed in the last 30 s one by one, so a tree removed just
# before a run made that run pay for the removal (single runs of any of the three swung
# between 4 and 58 s). Each run starts after a sync (untimed): the 750 MB the run before
# wrote are not this run's to flush.
op unpack "sync; mktemp -u $T/u.XXXXXX > $T/next" "img-unpack -S $S bench/big \$(cat $T/next)" \
	"umoci unpack" "sync; mktemp -u $T/um.XXXXXX > $T/next" "umoci unpack --image $S:docker.io/bench/big:latest \$(cat $T/next)" \
	"tar -x" "sync; d=\$(mktemp -d $T/tx.XXXXXX) && echo \$d > $T/next" "tar -xpf $D/flat.tar -C \$(cat $T/next)"
rm -rf "$T"/u.* "$T"/um.* "$T"/tx.* "$T/next"
# a second start: the image is unpacked by the warm-up run (root and runc only)
if [ "$(id -u)" = 0 ] && command -v runc >/dev/null; then
	op run-second "" "img-run -S $S --rm bench/run true"
fi

# img-build against buildah bud (overlay storage, chroot isolation) of the walkthrough's
# Dockerfile, FROM bench/web (bench/base's generated rootfs, a shell and a web root) present
# in both stores: build with no cache (the base already unpacked by the warm-up runs), and
# rebuild with nothing changed (each with its cache); times are for ten builds (build) and
# fifty (rebuild). Root, runc and buildah only.
build_targets=
if [ "$(id -u)" = 0 ] && command -v runc >/dev/null && command -v buildah >/dev/null; then
	BR="$D/buildah"
	BA="buildah --root $BR/root --runroot $BR/run --storage-driver overlay"
	if [ ! -e "$D/.build-data" ]; then
		rm -rf "$D/web" "$D/bctx"
		[ ! -d "$BR" ] || { $BA rmi -a -f >/dev/null 2>&1 || true; rm -rf "$BR"; }
		mkdir -p "$D/web/usr/share/nginx/html" "$D/bctx"
		echo old > "$D/web/usr/share/nginx/html/index.html"
		img-import -q -S "$S" -b bench/base "$top/tests/fixtures/peers/src/tiny-rootfs.tar" bench/sh >/dev/null
		img-import -q -S "$S" -b bench/sh "$D/web" bench/web >/dev/null
		printf 'FROM bench/web\nRUN echo %s > /usr/share/nginx/html/index.html\n' \
			"'<h1>Hello, Docker!</h1>'" > "$D/bctx/Dockerfile"
		skopeo copy -q "oci:$S:docker.io/bench/web:latest" \
			"containers-storage:[overlay@$BR/root+$BR/run]docker.io/bench/web:latest"
		touch "$D/.build-data"
	fi
	# each timed command builds N times: a rebuild takes less than the timer's 10 ms, so
	# fifty of them keep its resolution under 3%
	times() { echo "for i in \$(seq $1); do $2 >/dev/null || exit 1; done"; }
	op build "" "$(times 10 "img-build -S $S --no-cache --progress none -t bench/v3 $D/bctx")" \
		"buildah bud" "$BA rmi -p" "$(times 10 "$BA bud -q --isolation chroot --no-cache -t bench/v3 $D/bctx")"
	op rebuild "" "$(times 50 "img-build -S $S --progress none -t bench/v3 $D/bctx")" \
		"buildah bud" "" "$(times 50 "$BA bud -q --isolation chroot --layers -t bench/v3 $D/bctx")"
	build_targets="
build;buildah bud;speed;2;
rebuild;buildah bud;speed;10;"
fi

# Registry: bench/big pushed once by skopeo to a docker-registry on loopback; pull it
# (img-pull vs skopeo copy docker:// oci:), and push it to a second, emptied registry
# (img-push vs skopeo copy oci: docker://; emptied, so that neither can mount or skip).
# Skipped without docker-registry.
reg_targets=
if command -v docker-registry >/dev/null; then
	R="$D/registry"
	rm -rf "$R" && mkdir -p "$R"
	rpids=
	trap 'kill $rpids 2>/dev/null' EXIT
	# start_reg NAME: a registry with its data in $R/NAME; prints HOST:PORT
	start_reg() {
		local port
		port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$R/$1" "$port" > "$R/$1.yml"
		env -u REGISTRY_AUTH_FILE docker-registry serve "$R/$1.yml" > "$R/$1.log" 2>&1 &
		rpids="$rpids $!"
		for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && break; sleep 0.1; done
		REG=127.0.0.1:$port
	}
	start_reg src
	SRC=$REG
	start_reg dst
	DST=$REG
	skopeo copy -q --dest-tls-verify=false "oci:$S:docker.io/bench/big:latest" "docker://$SRC/bench/big:1"
	op pull "rm -rf $T/p; sync" "img-pull -q -S $T/p $SRC/bench/big:1" \
		"skopeo copy" "rm -rf $T/skp; sync" "skopeo copy -q --src-tls-verify=false docker://$SRC/bench/big:1 oci:$T/skp:x"
	op push "rm -rf $R/dst/data; sync" "img-push -q -S $S bench/big $DST/bench/img:1" \
		"skopeo copy" "rm -rf $R/dst/data; sync" "skopeo copy -q --dest-tls-verify=false oci:$S:docker.io/bench/big:latest docker://$DST/bench/sk:1"
	reg_targets="
pull;skopeo copy;speed;2;48
push;skopeo copy;speed;1.5;48"
fi

# ---- report ----
# name; reference; target kind (speed: ref/img >= x; abs: img seconds < x; cpu: img cpu < x) | rss target MB
targets="import-gzip;gzip -6;speed;5;32
import-gzip;igzip -1;speed;0.5;32
import-zstd;zstd -3;speed;0.667;32
save;skopeo copy;speed;5;16
save;tar | cat;speed;0.8;16
load;skopeo copy;speed;3;32
load;openssl dgst;speed;0.5;32
gc-check;openssl dgst;speed;0.7;
diff;;abs;1;
diff-paths;;abs;1.8;80
layers-files;tar -tvf;speed;;
gc-1000;;cpu;1;
unpack;umoci unpack;speed;3;64
unpack;tar -x;speed;0.8;64
run-second;;abs;0.3;$build_targets$reg_targets"

json="$D/results.json"
printf '%-13s %-13s %9s %9s %7s %-8s %-5s %8s\n' operation reference img_s ref_s ratio target result rss_MB
echo '[' > "$json"
first=1 misses=0
while IFS=';' read -r name ref kind tgt rss; do
	it=$(col "img:$name" 2); ic=$(col "img:$name" 3); im=$(col "img:$name" 4)
	awk -v l="img:$name" '$1 == l' "$D/raw" | grep -q . || continue
	rm_mb=$(awk -v k="$im" 'BEGIN { printf "%.1f", k / 1024 }')
	rt= ratio= result=info tshow=-
	case $kind in
	speed)
		rt=$(col "ref:$name:$ref" 2)
		ratio=$(awk -v a="$rt" -v b="$it" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		if [ -n "$tgt" ]; then
			tshow=">=$tgt"
			result=$(awk -v r="$ratio" -v t="$tgt" 'BEGIN { print (r >= t) ? "PASS" : "MISS" }')
		fi ;;
	abs)
		tshow="<${tgt}s"
		result=$(awk -v v="$it" -v t="$tgt" 'BEGIN { print (v < t) ? "PASS" : "MISS" }') ;;
	cpu)
		tshow="cpu<${tgt}s"; ratio="cpu=$ic"
		result=$(awk -v v="$ic" -v t="$tgt" 'BEGIN { print (v < t) ? "PASS" : "MISS" }') ;;
	esac
	if [ -n "$rss" ] && [ "$result" != MISS ]; then
		result=$(awk -v m="$rm_mb" -v t="$rss" -v r="$result" 'BEGIN { print (m < t) ? r : "MISS(rss)" }')
	fi
	[ -n "$rss" ] && rm_show="$rm_mb<$rss" || rm_show=$rm_mb
	case $result in MISS*) misses=$((misses + 1)) ;; esac
	printf '%-13s %-13s %9s %9s %7s %-8s %-5s %8s\n' "$name" "${ref:--}" "$it" "${rt:--}" "${ratio:--}" "$tshow" "$result" "$rm_show"
	[ $first -eq 1 ] || echo ',' >> "$json"
	first=0
	printf '{"operation":"%s","reference":"%s","img_seconds":%s,"img_cpu_seconds":%s,"ref_seconds":%s,"ratio":%s,"target":"%s","result":"%s","img_peak_rss_kb":%s,"rss_target_mb":%s}' \
		"$name" "$ref" "$it" "$ic" "${rt:-null}" "$(echo "${ratio:-null}" | sed 's/^cpu=.*/null/')" "$tshow" "$result" "$im" "${rss:-null}" >> "$json"
done <<< "$targets"
echo ']' >> "$json"
echo "bench: $misses target(s) missed; medians of $RUNS runs; results in $json" >&2
