#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets (deterministic output).

usage: mkseeds.py PEERS OUT

OUT/<target>/ for each target of tests/fuzz (ref, json, load, arcimg, layer). The archives
are those of tests/fixtures (load-mkarchive.py and hostile.py, every mode but the big
ones) and the peers' dialects, remade around a small base layer instead of busybox (a
fuzzer mutates small inputs faster): OUT/.peers is a copy of PEERS in miniature, with the
peers' real configs (diff_ids changed), real second layer and real JSON shapes.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import re
import subprocess
import sys
import tarfile

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "fixtures")
sys.path.insert(0, fixtures)
from archlib import (MT_CONFIG, MT_INDEX, MT_LAYER, MT_LAYER_GZ, MT_MANIFEST, Tar,  # noqa: E402
                     desc, dump, read, sha)

peers, out = sys.argv[1], sys.argv[2]
TARGETS = ("ref", "json", "load", "arcimg", "layer")
for t in TARGETS:
    os.makedirs(os.path.join(out, t), exist_ok=True)


def put(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


def gz(b):
    return gzip.compress(b, mtime=0)


def tar_bytes(build, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    t = Tar(fileobj=buf, fmt=fmt)
    build(t)
    t.close()
    return buf.getvalue()


# ---- the small base layer, in place of busybox ----
def base(t):
    for d in ("bin/", "etc/", "opt/", "opt/old/", "usr/", "usr/share/", "usr/share/tiny/",
              "tmp/", "root/"):
        t.dir(d)
    t.file("bin/busybox", b"#!/bin/sh\necho busybox\n")
    for a in ("sh", "ls", "cat"):
        t.link("bin/" + a, "busybox")
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    t.file("etc/group", b"root:x:0:\n")
    t.file("etc/tiny-release", b"tiny 1\n")
    t.file("opt/old/x.txt", b"x\n")
    t.file("opt/old/y.txt", b"y\n")
    t.file("usr/share/tiny/a.txt", b"a\n")
    t.file("usr/share/tiny/b.txt", b"b\n")


L1 = tar_bytes(base)
L2 = read(peers + "/src/tiny-layer2.tar")
layout = peers + "/tiny-oci-layout"
index = json.loads(read(layout + "/index.json"))


def blob(h):
    return read(layout + "/blobs/sha256/" + h)


mini = os.path.join(out, ".peers")
os.makedirs(mini + "/src", exist_ok=True)
os.makedirs(mini + "/tiny-oci-layout/blobs/sha256", exist_ok=True)
open(mini + "/src/tiny-rootfs.tar", "wb").write(L1)
open(mini + "/src/tiny-layer2.tar", "wb").write(L2)
mblobs, mindex = {}, []
for m in index["manifests"]:
    man = json.loads(blob(m["digest"][7:]))
    cfg = json.loads(blob(man["config"]["digest"][7:]))
    layers = [L1, L2][:len(cfg["rootfs"]["diff_ids"])]
    cfg["rootfs"]["diff_ids"] = ["sha256:" + sha(x) for x in layers]
    cfgb = dump(cfg)
    gzl = [gz(x) for x in layers]
    manb = dump({"schemaVersion": 2, "config": desc(MT_CONFIG, cfgb),
                 "layers": [desc(MT_LAYER_GZ, x) for x in gzl]})
    for b in [cfgb, manb] + gzl:
        mblobs[sha(b)] = b
    mindex.append(desc(MT_MANIFEST, manb, annotations=m["annotations"]))
for h, b in mblobs.items():
    open(mini + "/tiny-oci-layout/blobs/sha256/" + h, "wb").write(b)
open(mini + "/tiny-oci-layout/index.json", "wb").write(dump({"schemaVersion": 2,
                                                               "manifests": mindex}))
open(mini + "/tiny-oci-layout/oci-layout", "wb").write(b'{"imageLayoutVersion":"1.0.0"}')
for name in os.listdir(peers):   # the rest as it is, for a script that reads it
    if not os.path.exists(os.path.join(mini, name)):
        os.symlink(os.path.abspath(os.path.join(peers, name)), os.path.join(mini, name))


# ---- archives: the fixture scripts' modes, on the miniature peers ----
def modes(script, skip):
    doc = read(os.path.join(fixtures, script)).decode()
    found = re.findall(r"^  ([A-Za-z0-9-]+)\s{2,}", doc.split('"""')[1], re.M)
    return [m for m in found if m not in skip]


def run_script(script, skip):
    ms = modes(script, skip)
    tmp = os.path.join(out, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    cmd = [sys.executable, os.path.join(fixtures, script), mini]
    if subprocess.run(cmd + ["%s=%s/%s.tar" % (m, tmp, m) for m in ms]).returncode != 0:
        # one mode at a time, leaving out those the miniature peers cannot make
        for m in ms:
            if subprocess.run(cmd + ["%s=%s/%s.tar" % (m, tmp, m)]).returncode != 0:
                print("mkseeds: %s %s: left out" % (script, m), file=sys.stderr)
    res = {}
    for m in ms:
        p = "%s/%s.tar" % (tmp, m)
        if os.path.exists(p):
            res[m] = read(p)
            os.unlink(p)
    return res


archives = {}
for m, b in run_script("load-mkarchive.py", ()).items():
    archives["load-" + m] = b
# bomb and bigindex are megabytes; the R- trees are not image archives
for m, b in run_script("hostile.py", ("bomb", "bigindex")).items():
    if m.startswith("R-"):
        put("layer", "hostile-" + m, b)
    else:
        archives["hostile-" + m] = b

# skopeo's docker-archive, as in peers/tiny2-docker.tar: <diffid>.tar, <config>.json,
# <v1id>/{VERSION,json,layer.tar -> ../<diffid>.tar}, manifest.json and repositories last
cfg2 = mblobs[json.loads(mblobs[mindex[1]["digest"][7:]])["config"]["digest"][7:]]


def skopeo(t):
    ids, parent = [], ""
    for layer in (L1, L2):
        t.file(sha(layer) + ".tar", layer)
    t.file(sha(cfg2) + ".json", cfg2)
    for layer in (L1, L2):
        v1 = sha((parent + " " + sha(layer)).encode())
        ids.append(v1)
        t.dir(v1 + "/")
        t.file(v1 + "/VERSION", b"1.0")
        t.file(v1 + "/json", dump({"id": v1, "parent": parent} if parent else {"id": v1}))
        t.link(v1 + "/layer.tar", "../" + sha(layer) + ".tar")
        parent = v1
    t.file("manifest.json", dump([{"Config": sha(cfg2) + ".json",
                                   "RepoTags": ["docker.io/library/tiny:2"],
                                   "Layers": [sha(x) + ".tar" for x in (L1, L2)]}]))
    t.file("repositories", dump({"tiny": {"2": ids[-1]}}))


sk = tar_bytes(skopeo)
archives["skopeo-docker"] = sk
archives["skopeo-docker-gz"] = gz(sk)
archives["skopeo-docker-xz"] = lzma.compress(sk)
archives["skopeo-docker-gnu"] = tar_bytes(skopeo, tarfile.GNU_FORMAT)


def oci(t):
    t.dir("blobs/")
    t.dir("blobs/sha256/")
    for h in sorted(mblobs):
        t.file("blobs/sha256/" + h, mblobs[h])
    t.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    t.file("index.json", read(mini + "/tiny-oci-layout/index.json"))


archives["skopeo-oci"] = tar_bytes(oci)
for name, b in sorted(archives.items()):
    put("load", name, b)
    put("arcimg", name, b)

# ---- layers ----
put("layer", "tiny-layer2.tar", L2)
put("layer", "tiny-layer2.tar.gz", gz(L2))
put("layer", "tiny-layer2.tar.bz2", bz2.compress(L2))
put("layer", "tiny-layer2.tar.xz", lzma.compress(L2))
put("layer", "base.tar", L1)
put("layer", "base-gnu.tar", tar_bytes(base, tarfile.GNU_FORMAT))
put("layer", "base-ustar.tar.gz", gz(tar_bytes(base, tarfile.USTAR_FORMAT)))


def odd(t):
    t.dir("a/")
    t.file("a/f", b"f\n")
    t.link("a/h", "a/f", tarfile.LNKTYPE)
    t.file("a/.wh.f", b"")
    t.file("a/.wh..wh..opq", b"")
    t.file(".wh..wh.plnk", b"")
    t.link("a/s", "../a/f")
    t.file("a/s/x", b"x\n")                 # under a symlink
    t.file("a", b"now a file\n")            # a directory replaced by a file
    t.dir("a/")                              # and back
    t.dev("dev/null", tarfile.CHRTYPE, 1, 3)
    t.dev("dev/sda", tarfile.BLKTYPE, 8, 0)
    t.dev("dev/fifo", tarfile.FIFOTYPE, 0, 0)
    t.file("n" * 200, b"long\n")
    t.file("x/" + "y" * 120 + "/" + "z" * 150, b"longer\n")
    t.link("hl", "n" * 200, tarfile.LNKTYPE)


put("layer", "odd.tar", tar_bytes(odd))
put("layer", "odd-gnu.tar", tar_bytes(odd, tarfile.GNU_FORMAT))


def xattrs(t):
    ti = tarfile.TarInfo("cap")
    ti.size = 2
    ti.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
                      "SCHILY.xattr.user.k": "v"}
    t.t.addfile(ti, io.BytesIO(b"c\n"))
    t.file("empty", b"")


put("layer", "xattrs.tar", tar_bytes(xattrs))

# ---- JSON documents ----
put("json", "index", b"\0" + read(layout + "/index.json"))
for m in index["manifests"]:
    man = blob(m["digest"][7:])
    put("json", "manifest-" + m["digest"][7:19], b"\0" + man)
    c = json.loads(man)["config"]["digest"][7:]
    put("json", "config-" + c[:12], b"\1" + blob(c))
put("json", "list", b"\0" + dump({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests": [desc("application/vnd.docker.distribution.manifest.v2+json", b"x",
                       platform={"architecture": "arm", "os": "linux", "variant": "v7"}),
                  desc(MT_MANIFEST, b"y", platform={"architecture": "amd64", "os": "windows",
                                                    "os.version": "10.0.17763.1"}),
                  desc(MT_MANIFEST, b"z", platform={"architecture": "unknown",
                                                    "os": "unknown"},
                       annotations={"vnd.docker.reference.type": "attestation-manifest"})]}))
put("json", "docker-manifest", b"\0" + dump({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": desc("application/vnd.docker.container.image.v1+json", b"c"),
    "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", b"l")]}))
put("json", "artifact", b"\0" + dump({
    "schemaVersion": 2, "mediaType": MT_MANIFEST, "artifactType": "application/x-sbom",
    "config": desc("application/vnd.oci.empty.v1+json", b"{}"),
    "layers": [desc("application/json", b"{}")],
    "subject": desc(MT_MANIFEST, b"s")}))
# in an archive, with @C @L @M (digests) and @c @l @m (sizes) of the harness's blobs
item = {"Config": "blobs/sha256/@C", "RepoTags": ["tiny:1"], "Layers": ["blobs/sha256/@L"]}
put("json", "manifest.json", b"\2" + dump([item]) + b"\0" + dump({"tiny": {"1": "@L"}}))
put("json", "manifest.json-legacy", b"\2" + dump([{"Config": "blobs/sha256/@C",
                                                   "RepoTags": None,
                                                   "Layers": ["@L/layer.tar"]}]))
put("json", "manifest.json-jib", b"\2" + dump([{"config": "blobs/sha256/@C",
                                                "repoTags": ["jib:1"],
                                                "layers": ["blobs/sha256/@L"]}]))
put("json", "manifest.json-two", b"\2" + dump([item, dict(item, RepoTags=["tiny:2"])]))
mdesc = {"mediaType": MT_MANIFEST, "digest": "sha256:@M", "size": "@m",
         "annotations": {"org.opencontainers.image.ref.name": "tiny:1"}}
idx = dump({"schemaVersion": 2, "manifests": [mdesc]}).replace(b'"@m"', b"@m")
put("json", "index.json", b"\3" + idx)
put("json", "index.json-platform", b"\3" + dump({"schemaVersion": 2, "mediaType": MT_INDEX,
    "manifests": [dict(mdesc, platform={"architecture": "amd64", "os": "linux"},
                       annotations={"io.containerd.image.name": "docker.io/library/x:1",
                                    "org.opencontainers.image.ref.name": "1"})]}
    ).replace(b'"@m"', b"@m") + b"\0" + b'{"imageLayoutVersion":"1.0.0"}')
put("json", "index.json-null", b"\4" + dump({"schemaVersion": 2, "manifests": None}) + b"\0" +
    dump([item]))
put("json", "index.json-both", b"\4" + idx + b"\0" + dump([item]))
for name in ("tiny1-docker.tar", "tiny12-multi-docker.tar"):
    with tarfile.open(os.path.join(peers, name)) as t:
        for n in ("manifest.json", "repositories"):
            put("json", name[:-4] + "-" + n, b"\2" + t.extractfile(n).read())

# ---- strings ----
refs = ["nginx", "docker.io/library/nginx:latest", "index.docker.io/nginx:1.25",
        "localhost:5000/a/b-c_d.e:v1.2@sha256:" + "a" * 64, "Registry.Example.com/x/y",
        "sha256:abc1", "e" * 64, "[::1]:5000/app:tag", "example/app", "UPPER/case",
        "a" * 300, "nginx@sha512:" + "b" * 128, "tiny:2\ndocker.io/library/tiny",
        "docker.io/library/nginx:1\nnginx:*", "linux/arm/v7", "amd64", "windows/amd64",
        "linux/arm64/v8", "./a/../b", "a/.wh.b", "a/.wh..wh..opq", "/abs/x", ".wh.",
        "a//b/./c/", "bad\xffname"]
for i, r in enumerate(refs):
    put("ref", "%02d" % i, r.encode("utf-8", "surrogateescape"))

import shutil  # noqa: E402
shutil.rmtree(os.path.join(out, ".tmp"), ignore_errors=True)
