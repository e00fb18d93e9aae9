#!/bin/sh
# make demo: the main job on a built-in example. Build a small root filesystem, import it
# as an image, add a layer on top, list, save to a compressed archive, carry it to a second
# store ("the other side of the air gap"), load, and compare.
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="$top/$BUILD:$PATH"
work="$top/$BUILD/demo"
rm -rf "$work"
mkdir -p "$work/rootfs/etc" "$work/rootfs/bin" "$work/rootfs/usr/share/demo" "$work/app"
export SOURCE_DATE_EPOCH=1700000000
printf 'NAME=demo\nVERSION=1\n' > "$work/rootfs/etc/os-release"
printf '#!/bin/sh\necho hello from the demo image\n' > "$work/rootfs/bin/hello"
chmod 755 "$work/rootfs/bin/hello"
ln -s hello "$work/rootfs/bin/hi"
head -c 200000 /dev/urandom > "$work/rootfs/usr/share/demo/data.bin"
printf 'v2\n' > "$work/app/VERSION"

run() { printf '\n$ %s\n' "$*"; sh -c "$*"; }
cd "$work"
export IMG_STORE="$work/store"
run "tar -C rootfs -cf rootfs.tar . && img-import -m 'demo base' rootfs.tar demo/base:1"
run "img-import -b demo/base:1 -c 'CMD [\"/bin/hello\"]' -c 'ENV GREETING=hi' app demo/app:2"
run "img-ls"
run "img-layers demo/app:2"
run "img-save demo/app:2 | gzip > app.tgz && ls -l app.tgz"
run "IMG_STORE=\$PWD/other img-load < app.tgz"
run "IMG_STORE=\$PWD/other img-ls --digests"
run "img-diff demo/base:1 demo/app:2 || true"
run "skopeo inspect --raw oci:store:docker.io/demo/app:2 | head -c 300; echo"
printf '\nThe store is a plain OCI layout: %s\n' "$IMG_STORE"
