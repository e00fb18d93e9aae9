#!/usr/bin/env python3
"""Small servers for the registry tests (127.0.0.1 only; each logs one line a request).

token PORT KEY KID ISSUER SERVICE USER PASS LOG
    A token server for docker-registry's token auth: GET /token?service=&scope=...
    with HTTP Basic USER:PASS answers {"token", "access_token", "expires_in"}: a JWT
    signed RS256 with KEY (by openssl), header kid KID, granting what each scope asks.
    Wrong credentials: 401. No credentials: a token granting nothing.

redirect PORT STORE_PORT LAYOUT USER PASS LOG [RATE]
    A read-only registry over an OCI layout (manifests by tag = ref.name "REPO:TAG" or
    ".../REPO:TAG", or by digest) that wants HTTP Basic USER:PASS and answers blob GETs
    with a 307 to a storage server on localhost:STORE_PORT (another origin), which serves
    the bytes (Range too, at most RATE bytes a second when given) and logs whether an
    Authorization header came with the request, the range and the bytes it sent.
    REGSERVER_FAIL=CODE:N in the environment: the first N registry requests (after the
    /v2/ probe) are answered CODE with an error body (and Retry-After: 1 for 429).
"""
import base64, hashlib, json, os, subprocess, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def log(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def basic_ok(handler, user, pw):
    h = handler.headers.get("Authorization", "")
    if not h.startswith("Basic "):
        return None
    try:
        u, p = base64.b64decode(h[6:]).decode().split(":", 1)
    except Exception:
        return False
    return u == user and p == pw


def token_server(port, key, kid, issuer, service, user, pw, logf):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query)
            ok = basic_ok(self, user, pw)
            log(logf, "token scope=%s auth=%s" % (",".join(q.get("scope", [])), ok))
            if u.path != "/token" or ok is False:
                body = json.dumps({"errors": [{"code": "UNAUTHORIZED",
                                               "message": "bad credentials for the token"}]})
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())
                return
            access = []
            for s in q.get("scope", []):
                parts = s.split(":")
                if len(parts) == 3 and ok:
                    access.append({"type": parts[0], "name": parts[1],
                                   "actions": parts[2].split(",")})
            now = int(time.time())
            hdr = {"typ": "JWT", "alg": "RS256", "kid": kid}
            claims = {"iss": issuer, "sub": user if ok else "", "aud": service,
                      "exp": now + 300, "nbf": now - 10, "iat": now,
                      "jti": os.urandom(8).hex(), "access": access}
            signing = b64url(json.dumps(hdr).encode()) + "." + b64url(json.dumps(claims).encode())
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                                 input=signing.encode(), capture_output=True, check=True).stdout
            tok = signing + "." + b64url(sig)
            body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def redirect_server(port, store_port, layout, user, pw, logf, rate=0):
    f = os.environ.get("REGSERVER_FAIL", "0:0").split(":")
    fail = [int(f[0]), int(f[1])]
    def blob(d):
        alg, _, hexd = d.partition(":")
        if alg != "sha256" or len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
            return None
        p = os.path.join(layout, "blobs", "sha256", hexd)
        return open(p, "rb").read() if os.path.exists(p) else None

    class Reg(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, code, body=b"", ctype="application/json", extra=None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            ok = basic_ok(self, user, pw)
            log(logf, "registry %s %s auth=%s" % (self.command, self.path, ok))
            if fail[1] > 0 and self.path != "/v2/":
                fail[1] -= 1
                code = fail[0]
                err = {"errors": [{"code": "TOOMANYREQUESTS" if code == 429 else "UNAVAILABLE",
                                   "message": "try again later (%d)" % code}]}
                log(logf, "registry answered %d" % code)
                return self.reply(code, json.dumps(err).encode(),
                                  extra={"Retry-After": "1"} if code == 429 else None)
            if not ok:
                err = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
                return self.reply(401, json.dumps(err).encode(),
                                  extra={"WWW-Authenticate": 'Basic realm="img-test"'})
            parts = self.path.split("/")
            if self.path == "/v2/":
                return self.reply(200, b"{}")
            if len(parts) == 5 and parts[3] == "manifests":
                ref = parts[4]
                idx = json.load(open(os.path.join(layout, "index.json")))
                for m in idx["manifests"]:
                    name = m.get("annotations", {}).get("org.opencontainers.image.ref.name")
                    want = "%s:%s" % (parts[2], ref)
                    if ref == m["digest"] or name == want or (name or "").endswith("/" + want):
                        return self.reply(200, blob(m["digest"]), m["mediaType"],
                                          {"Docker-Content-Digest": m["digest"]})
                return self.reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            if len(parts) == 5 and parts[3] == "blobs" and blob(parts[4]) is not None:
                return self.reply(307, extra={
                    "Location": "http://localhost:%d/storage/%s" % (store_port, parts[4])})
            return self.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')

        do_HEAD = do_GET

    class Store(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            has = "Authorization" in self.headers
            b = blob(self.path.rsplit("/", 1)[-1])
            start, code = 0, 200
            rng = self.headers.get("Range", "")
            if b is not None and rng.startswith("bytes=") and rng.endswith("-"):
                start, code = int(rng[6:-1]), 206
            body = (b or b"")[start:]
            self.send_response(code if b is not None else 404)
            self.send_header("Content-Length", str(len(body)))
            if code == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(b) - 1, len(b)))
            self.end_headers()
            sent = 0
            try:
                step = 65536
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    sent += len(body[i:i + step])
                    if rate:
                        time.sleep(step / rate)
            except (BrokenPipeError, ConnectionResetError):
                pass            # the client went away (killed): log what it got
            finally:
                log(logf, "storage GET %s authorization=%s range=%s sent=%d" % (
                    self.path, "yes" if has else "no", rng or "-", sent))

    import threading
    st = ThreadingHTTPServer(("127.0.0.1", store_port), Store)
    threading.Thread(target=st.serve_forever, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", port), Reg).serve_forever()


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "token":
        token_server(int(a[1]), a[2], a[3], a[4], a[5], a[6], a[7], a[8])
    elif a[0] == "redirect":
        redirect_server(int(a[1]), int(a[2]), a[3], a[4], a[5], a[6], int(a[7]) if len(a) > 7 else 0)
    else:
        sys.exit("usage: regserver.py token|redirect ...")
