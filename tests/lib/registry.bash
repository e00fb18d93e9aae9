# Registries for the tests of img-pull and img-push: Debian's docker-registry
# (distribution 2.8) on 127.0.0.1 with a free port, its config and storage in the test's
# temp dir, stopped by PID in teardown. Load after helper.bash.

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait until URL answers (any HTTP status), at most 10 s.
wait_http() {
	local i
	for i in $(seq 100); do
		curl -sk -o /dev/null "$1" && return 0
		sleep 0.1
	done
	cat "${REGLOG:-/dev/null}" "$REGDIR/config.yml" >&2
	fail "no answer from $1"
}

# start_registry [DIR]: a plain registry; REG is its HOST:PORT, REGDIR its directory,
# REGLOG its log (one access log line per request). REG_HTTP_EXTRA: more yaml lines under
# http:, REG_EXTRA: more top-level yaml (auth:).
start_registry() {
	need docker-registry
	REGDIR=${1:-$BATS_TEST_TMPDIR/registry}
	mkdir -p "$REGDIR"
	REGPORT=$(free_port)
	REG=127.0.0.1:$REGPORT
	REGLOG=$REGDIR/log
	cat > "$REGDIR/config.yml" <<-EOF
	version: 0.1
	log:
	  level: error
	  accesslog:
	    disabled: false
	storage:
	  filesystem:
	    rootdirectory: $REGDIR/data
	  delete:
	    enabled: true
	http:
	  addr: $REG
	${REG_HTTP_EXTRA:-}
	${REG_EXTRA:-}
	EOF
	# the registry reads REGISTRY_* variables as configuration (REGISTRY_AUTH_FILE too)
	env -u REGISTRY_AUTH_FILE docker-registry serve "$REGDIR/config.yml" > "$REGLOG" 2>&1 3>&- &
	echo $! > "$REGDIR/pid"
	REG_PIDS="${REG_PIDS:-} $!"
	wait_http "${REG_SCHEME:-http}://$REG/v2/"
}

# Stop every registry (and helper server) this test started.
stop_registries() {
	local p
	for p in ${REG_PIDS:-}; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null || true
	done
	REG_PIDS=
	return 0
}

# Blob GETs (any status) the registry logged for repository $1.
blob_gets() {
	grep -c "\"GET /v2/$1/blobs/" "$REGLOG" || true
}

# Bytes the registry sent for blob GETs of repository $1 (access log size field).
blob_bytes() {
	awk -v r="\"GET /v2/$1/blobs/" 'index($0, r) { for (i = 1; i <= NF; i++)
		if ($i ~ /^HTTP\/1/) { s += $(i + 2); break } } END { print s + 0 }' "$REGLOG"
}

# skopeo copy from the peers' OCI layout (tiny:1, tiny:2) to the registry.
skopeo_push() {
	skopeo copy -q --dest-tls-verify=false "oci:$PEERS/tiny-oci-layout:$1" "docker://$REG/$2" >/dev/null
}

# The digest skopeo sees for a reference on the registry.
skopeo_digest() {
	skopeo inspect --raw --tls-verify=false "docker://$REG/$1" | sha256sum | sed 's/^/sha256:/; s/ .*//'
}

# A CA and a server certificate for 127.0.0.1 in $1 (ca.crt, server.crt, server.key),
# made with openssl; $1/certs is a docker-style cert dir trusting the CA.
make_certs() {
	local d=$1
	mkdir -p "$d/certs"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj /CN=img-test-ca 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" -subj /CN=127.0.0.1 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -out "$d/server.crt" -days 2 -extfile "$d/ext" 2>/dev/null
	cp "$d/ca.crt" "$d/certs/ca.crt"
}

# start_tls_registry USER PASS: TLS (make_certs in $BATS_TEST_TMPDIR/tls) and htpasswd
# basic auth (apache2-utils) for USER.
start_tls_registry() {
	need docker-registry openssl htpasswd
	local t=$BATS_TEST_TMPDIR/tls
	make_certs "$t"
	htpasswd -Bbn "$1" "$2" > "$t/htpasswd" 2>/dev/null
	REG_HTTP_EXTRA=$(printf '  tls:\n    certificate: %s\n    key: %s' "$t/server.crt" "$t/server.key")
	REG_EXTRA=$(printf 'auth:\n  htpasswd:\n    realm: img-test\n    path: %s' "$t/htpasswd")
	REG_SCHEME=https start_registry
	CERTS=$t/certs
}

# start_token_registry USER PASS: a docker-registry with token auth and, in front of
# it, tests/lib/regserver.py's token server (RS256, key made by openssl). TOKLOG logs
# each token request.
start_token_registry() {
	need docker-registry openssl python3
	local t=$BATS_TEST_TMPDIR/token kid tport
	mkdir -p "$t"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/token.key" -out "$t/token.crt" \
		-days 2 -subj /CN=img-test-token 2>/dev/null
	kid=$(openssl x509 -in "$t/token.crt" -pubkey -noout | openssl pkey -pubin -outform DER |
		python3 -c 'import sys, hashlib, base64
s = base64.b32encode(hashlib.sha256(sys.stdin.buffer.read()).digest()[:30]).decode().rstrip("=")
print(":".join(s[i:i + 4] for i in range(0, len(s), 4)))')
	tport=$(free_port)
	TOKLOG=$t/log
	: > "$TOKLOG"
	python3 "$BATS_TEST_DIRNAME/../lib/regserver.py" token "$tport" "$t/token.key" "$kid" \
		img-issuer img-test "$1" "$2" "$TOKLOG" 3>&- &
	REG_PIDS="${REG_PIDS:-} $!"
	wait_http "http://127.0.0.1:$tport/token"
	REG_EXTRA=$(printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: img-test\n    issuer: img-issuer\n    rootcertbundle: %s' "$tport" "$t/token.crt")
	start_registry
}

# start_redirect_registry USER PASS [LAYOUT [RATE]]: regserver.py's registry over an OCI
# layout (default the peers'), basic auth, blob GETs redirected to a storage server on
# localhost:ANOTHER_PORT (at most RATE bytes a second).
start_redirect_registry() {
	need python3
	local sport
	REGPORT=$(free_port)
	sport=$(free_port)
	REG=127.0.0.1:$REGPORT
	REGLOG=$BATS_TEST_TMPDIR/redirect.log
	: > "$REGLOG"
	python3 "$BATS_TEST_DIRNAME/../lib/regserver.py" redirect "$REGPORT" "$sport" \
		"${3:-$PEERS/tiny-oci-layout}" "$1" "$2" "$REGLOG" ${4:-} 3>&- &
	REG_PIDS="${REG_PIDS:-} $!"
	wait_http "http://$REG/v2/"
}
