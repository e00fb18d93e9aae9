#!/usr/bin/env bats
# img-login, img-logout, and basic auth over TLS with a private CA: docker's auth file,
# read by skopeo; the password never printed.
bats_require_minimum_version 1.5.0
load ../lib/helper
load ../lib/registry

setup() {
	export IMG_STORE="$BATS_TEST_TMPDIR/store"
	export REGISTRY_AUTH_FILE="$BATS_TEST_TMPDIR/auth/auth.json"
	export HOME="$BATS_TEST_TMPDIR/home"
	mkdir -p "$HOME"
	cd "$BATS_TEST_TMPDIR"
}

teardown() {
	stop_registries
}

PASS='s3cret-pw:x'

@test "usage: --help, bad options, operands" {
	run -0 --separate-stderr img-login --help
	[[ "${lines[0]}" == "usage: img-login "* ]]
	run -2 --separate-stderr img-login
	run -2 --separate-stderr img-login a b
	run -2 --separate-stderr img-login -p x host
	run -0 --separate-stderr img-logout --help
	[[ "${lines[0]}" == "usage: img-logout "* ]]
	run -2 --separate-stderr img-logout
	run -1 --separate-stderr img-login -u u --password-stdin 'bad host!' <<<"$PASS"
	[[ "$stderr" == *"invalid registry"* ]]
	# no terminal to ask on
	run -1 --separate-stderr img-login -u u 127.0.0.1:1 < /dev/null
	[[ "$stderr" == *"--password-stdin"* ]]
}

@test "login over TLS with a private CA: docker's file format, 0600, other entries kept; skopeo reads it" {
	start_tls_registry alice "$PASS"
	mkdir -p "$(dirname "$REGISTRY_AUTH_FILE")"
	printf '{"auths":{"other.example":{"auth":"eDp5"}},"credsStore":"none"}' > "$REGISTRY_AUTH_FILE"
	run -0 --separate-stderr img-login --cert-dir "$CERTS" -u alice --password-stdin "$REG" <<<"$PASS"
	[ "$output" = "Login Succeeded" ]
	[[ "$stderr$output" != *"$PASS"* ]]
	[ "$(stat -c %a "$REGISTRY_AUTH_FILE")" = 600 ]
	[ "$(jq -r --arg r "$REG" '.auths[$r].auth' "$REGISTRY_AUTH_FILE" | base64 -d)" = "alice:$PASS" ]
	[ "$(jq -r '.auths["other.example"].auth' "$REGISTRY_AUTH_FILE")" = "eDp5" ]
	[ "$(jq -r .credsStore "$REGISTRY_AUTH_FILE")" = none ]
	assert_no_temp "$(dirname "$REGISTRY_AUTH_FILE")"
	# push and pull with the stored credentials and the CA
	import_tiny "$REG/app:1"
	d=$(jq -r '.manifests[0].digest' "$IMG_STORE/index.json")
	run -0 img-push -q --cert-dir "$CERTS" "$REG/app:1"
	[ "$output" = "Pushed: $REG/app:1@$d" ]
	run -0 skopeo inspect --authfile "$REGISTRY_AUTH_FILE" --cert-dir "$CERTS" "docker://$REG/app:1"
	[ "$(jq -r .Digest <<<"$output")" = "$d" ]
	rm -rf "$IMG_STORE"
	run -0 img-pull -q --cert-dir "$CERTS" "$REG/app:1"
	[ "$output" = "Pulled: $REG/app:1@$d" ]
	# --authfile names another file; without credentials the registry says no
	rm -rf "$IMG_STORE"
	echo '{}' > empty.json
	run -1 --separate-stderr img-pull -q --authfile empty.json --cert-dir "$CERTS" "$REG/app:1"
	[[ "$stderr" == *"UNAUTHORIZED"*"(HTTP 401)" ]]
	# logout removes the entry, keeps the rest
	run -0 img-logout "$REG"
	[ "$output" = "Removed login credentials for $REG" ]
	[ "$(jq -r --arg r "$REG" '.auths[$r]' "$REGISTRY_AUTH_FILE")" = null ]
	[ "$(jq -r '.auths["other.example"].auth' "$REGISTRY_AUTH_FILE")" = "eDp5" ]
	run -1 --separate-stderr img-logout "$REG"
	[[ "$stderr" == "img-logout: not logged in to $REG" ]]
}

@test "a wrong password: exit 1 with the registry's message, the file untouched, no password shown" {
	start_tls_registry alice "$PASS"
	run -1 --separate-stderr img-login --cert-dir "$CERTS" -u alice --password-stdin "$REG" <<<"wrong-$PASS"
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "img-login: login to $REG failed: "*"UNAUTHORIZED: authentication required (HTTP 401)" ]]
	[[ "$stderr" != *"$PASS"* ]]
	[ ! -e "$REGISTRY_AUTH_FILE" ]
	# a wrong password in the auth file: the registry's message again
	mkdir -p "$(dirname "$REGISTRY_AUTH_FILE")"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf 'alice:nope' | base64)" > "$REGISTRY_AUTH_FILE"
	run -1 --separate-stderr img-pull -q --cert-dir "$CERTS" "$REG/app:1"
	[[ "$stderr" == *"UNAUTHORIZED"* ]]
}

@test "TLS: an unknown CA is refused; --tls-verify=false goes on; default ~/.docker/config.json" {
	start_tls_registry alice "$PASS"
	run -1 --separate-stderr img-login -u alice --password-stdin "$REG" <<<"$PASS"
	[[ "$stderr" == *"certificate"* ]]
	unset REGISTRY_AUTH_FILE
	run -0 --separate-stderr img-login --tls-verify=false -u alice --password-stdin "https://$REG/" <<<"$PASS"
	[ "$(jq -r --arg r "$REG" '.auths[$r].auth' "$HOME/.docker/config.json" | base64 -d)" = "alice:$PASS" ]
	[ "$(stat -c %a "$HOME/.docker/config.json")" = 600 ]
	run -1 --separate-stderr img-pull -q "$REG/app:1"
	[[ "$stderr" == *"certificate"* ]]
	run -1 --separate-stderr img-pull -q --tls-verify=false "$REG/app:1"
	[[ "$stderr" == *"MANIFEST_UNKNOWN"* || "$stderr" == *"NAME_UNKNOWN"* ]]
}

@test "bearer tokens: login, push and pull through a token server; tokens reused per scope" {
	start_token_registry bob "$PASS"
	run -1 --separate-stderr img-pull -q "$REG/app:1"
	[[ "$stderr" == *"UNAUTHORIZED"* ]]
	run -1 --separate-stderr img-login -u bob --password-stdin "$REG" <<<"nope"
	[[ "$stderr" == "img-login: login to $REG failed: token: UNAUTHORIZED: bad credentials for the token (HTTP 401)" ]]
	[ ! -e "$REGISTRY_AUTH_FILE" ]
	run -0 img-login -u bob --password-stdin "$REG" <<<"$PASS"
	[ "$output" = "Login Succeeded" ]
	import_tiny "$REG/app:1"
	d=$(jq -r '.manifests[0].digest' "$IMG_STORE/index.json")
	: > "$TOKLOG"
	run -0 img-push -q "$REG/app:1"
	[ "$output" = "Pushed: $REG/app:1@$d" ]
	grep -q 'scope=repository:app:pull,push auth=True' "$TOKLOG"
	# one token per worker at most, not one per request
	[ "$(wc -l < "$TOKLOG")" -le 4 ]
	[ "$(grep -c '"HEAD \|"PUT \|"POST ' "$REGLOG")" -gt 5 ]
	rm -rf "$IMG_STORE"
	: > "$TOKLOG"
	run -0 img-pull -q "$REG/app:1"
	[ "$output" = "Pulled: $REG/app:1@$d" ]
	grep -q 'scope=repository:app:pull auth=True' "$TOKLOG"
	run -0 img-gc --check
	[ "$(skopeo inspect --authfile "$REGISTRY_AUTH_FILE" --tls-verify=false "docker://$REG/app:1" | jq -r .Digest)" = "$d" ]
}

@test "a blob download redirected to another host gets no credentials" {
	start_redirect_registry carol "$PASS"
	mkdir -p "$(dirname "$REGISTRY_AUTH_FILE")"
	printf '{"auths":{"%s":{"auth":"%s"}}}' "$REG" "$(printf 'carol:%s' "$PASS" | base64 -w0)" > "$REGISTRY_AUTH_FILE"
	run -0 --separate-stderr img-pull -q "$REG/tiny:1"
	[ "$output" = "Pulled: $REG/tiny:1@$(jq -r '.manifests[0].digest' "$PEERS/tiny-oci-layout/index.json")" ]
	[ "$(grep -c '^storage GET .* authorization=no ' "$REGLOG")" -eq 2 ]
	! grep -q 'authorization=yes' "$REGLOG"
	grep -q '^registry GET /v2/tiny/blobs/.* auth=True$' "$REGLOG"
	run -0 img-gc --check
}
