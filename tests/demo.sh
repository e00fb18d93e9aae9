#!/bin/sh
# make demo: the Docker walkthrough told with img alone, step by step, on a built-in example
# (the busybox root filesystem of tests/fixtures/peers/src). Each step prints its command
# and what it printed; the demo stops with a non-zero status at the first step that fails
# (a failure anywhere in a pipeline fails the step).
#
#   docker image ls        img-ls
#   docker import          img-import ROOTFS NAME
#   docker build           img-import -b BASE DIR NAME (FROM BASE, one file added), and
#                          img-build with the walkthrough's Dockerfile (as root, with runc)
#   docker run / exec      img-run (with runc, as root; skipped with a note otherwise)
#   docker save | gzip     img-save NAME | gzip
#   docker load            img-load, into a second store ("the other side of the air gap")
#   (no docker command)    img-ls --blobs, img-save --have: a delta archive for the next version
#   docker history         img-layers, and img-diff
#   docker push / pull     img-push, img-pull, to and from a registry started on loopback
#   docker image rm/prune  img-rm, img-gc
set -eu
BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) bin=$BUILD ;; *) bin=$top/$BUILD ;; esac
PATH="$bin:$PATH"
# DEMO_DIR: where its files and stores go (default: the build directory's demo/)
work=${DEMO_DIR:-$bin/demo}
regpid=

cleanup() {
	if [ -n "$regpid" ]; then
		kill "$regpid" 2>/dev/null || true
		wait "$regpid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$work"
mkdir -p "$work/web/usr/share/nginx/html"
cd "$work"
export IMG_STORE="$work/store"
unset REGISTRY_AUTH_FILE

step=0
# step TITLE COMMAND: print the title and the command, run it, stop the demo if it fails
step() {
	step=$((step + 1))
	printf '\n## %d. %s\n$ %s\n' "$step" "$1" "$2"
	bash -o pipefail -c "$2" || { st=$?; printf '\nmake demo: step %d failed (exit status %d): %s\n' "$step" "$st" "$2" >&2; exit 1; }
}
note() { printf '\n## %s\n' "$*"; }

cp "$top/tests/fixtures/peers/src/tiny-rootfs.tar" rootfs.tar
echo '<h1>Hello, Docker!</h1>' > web/usr/share/nginx/html/index.html

step "The store is empty: nothing listed" "img-ls"
step "A base image from a root filesystem (docker import)" \
	"img-import -q -m 'demo base' -c 'CMD [\"/bin/sh\"]' rootfs.tar demo/base:1"
step "Customize it as the walkthrough's Dockerfile does: FROM demo/base:1, one file written" \
	"img-import -q -b demo/base:1 -c 'CMD [\"cat\", \"/usr/share/nginx/html/index.html\"]' web demo/web:1"
step "List (docker image ls)" "img-ls"

if [ "$(id -u)" = 0 ] && command -v runc >/dev/null 2>&1; then
	step "Run it with runc, removed after it exits (docker run --rm)" "img-run --rm demo/web:1"
	step "The same with the walkthrough's Dockerfile (docker build -t demo/web:v3 .)" \
		"printf 'FROM demo/base:1\\nRUN mkdir -p /usr/share/nginx/html && echo \"<h1>Hello, Docker!</h1>\" > /usr/share/nginx/html/index.html\\nCMD [\"cat\", \"/usr/share/nginx/html/index.html\"]\\n' > Dockerfile && cat Dockerfile && img-build -t demo/web:v3 . 2>&1 && img-run --rm demo/web:v3"
else
	note "Run and build: skipped (img-run and img-build's RUN steps need root and runc; as root: img-run --rm demo/web:1)"
fi

step "Save to a compressed archive (docker save | gzip)" \
	"img-save demo/web:1 | gzip > web1.tgz && ls -l web1.tgz"
step "The other side of the air gap: a second store loads it from a pipe (docker load)" \
	"cat web1.tgz | img-load -S side-b"
step "Next version: one more layer of 2 MB" \
	"mkdir -p v2/usr/share/nginx/html && head -c 2000000 /dev/urandom > v2/usr/share/nginx/html/video.bin && echo '<h1>Hello again</h1>' > v2/usr/share/nginx/html/index.html && img-import -q -b demo/web:1 v2 demo/web:2"
step "The other side writes the list of blobs it has" \
	"img-ls -S side-b --blobs > have.txt && wc -l < have.txt"
step "A delta archive leaves those blobs out: only the new layer travels" \
	"img-save --have have.txt demo/web:2 | gzip > web2-delta.tgz && img-save demo/web:2 | gzip > web2-full.tgz && ls -l web2-delta.tgz web2-full.tgz"
step "What the delta holds, read without loading it" "img-ls --archive web2-delta.tgz"
step "The other side loads the delta on top of what it has" \
	"img-load -S side-b < web2-delta.tgz && img-ls -S side-b --digests"
step "Both sides hold the same image, byte for byte" \
	"test \"\$(img-ls --digests --json demo/web:2 | jq -r '.[0].digest')\" = \"\$(img-ls -S side-b --digests --json demo/web:2 | jq -r '.[0].digest')\" && echo same manifest digest"
step "Its layers (docker history)" "img-layers demo/web:2"
step "What changed from the first version (exit status 1: they differ)" \
	"img-diff demo/web:1 demo/web:2; test \$? = 1"

if command -v docker-registry >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p registry
	cat > registry/config.yml <<-EOF
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: true
	storage:
	  filesystem:
	    rootdirectory: $work/registry/data
	http:
	  addr: 127.0.0.1:$port
	EOF
	env -u REGISTRY_AUTH_FILE docker-registry serve registry/config.yml > registry/log 2>&1 &
	regpid=$!
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; do
		i=$((i + 1))
		[ $i -lt 100 ] || { cat registry/log >&2; echo "make demo: the registry did not start" >&2; exit 1; }
		sleep 0.1
	done
	note "A private registry on 127.0.0.1:$port (docker-registry, stopped at the end)"
	step "Push to it (docker push)" "img-push demo/web:2 127.0.0.1:$port/demo/web:2"
	step "Pull it into a third store (docker pull)" \
		"img-pull -S side-c 127.0.0.1:$port/demo/web:2 && img-ls -S side-c"
else
	note "Push and pull: skipped (no docker-registry to start on loopback; make deps installs it)"
fi

step "Remove the names (docker image rm); --no-prune leaves their blobs to img-gc" "img-rm --no-prune \$(img-ls -q demo/web) && img-ls"
step "Delete what no image needs any more (docker image prune)" "img-gc && img-ls -a"
printf '\nThe demo ran %d steps. Its stores are plain OCI layouts under %s\n' "$step" "$work"
