#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build everything (wasm included),
# validate and test the demo bundle in policies/, decide a sample request with it, then run the
# decision server on it (data in .sesame/, or $SESAME_DATA; address $SESAME_LISTEN).
set -euo pipefail
. "$(dirname "$0")/paths.sh"
scripts/setup.sh
cargo build --release --workspace
scripts/wasm-build.sh wasm -p wasm-bindings
scripts/wasm-build.sh wasm-guest -p wasm-guest
scripts/browser-pkg.sh
sesame="$SESAME"
echo; echo "== sesame check policies"; "$sesame" check policies
echo; echo "== sesame test policies"; "$sesame" test policies
echo; echo "== sesame decide (sample: an assigned accountant opens an invoice; an admin does not)"
printf '%s\n' \
  '{"principal":{"type":"User","id":"carol"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}' \
  '{"principal":{"type":"User","id":"alice"},"action":{"type":"Action","id":"view_document"},"resource":{"type":"Document","id":"inv-1"}}' \
  | "$sesame" decide --bundle policies --entities policies/tests/fixtures/demo-firm.json

listen="${SESAME_LISTEN:-127.0.0.1:8080}"
data="${SESAME_DATA:-.sesame}"
# A development identity provider: a local signing key whose JWKS the server trusts, and a
# sign-in token for alice (the demo firm's administrator) minted with it.
mkdir -p "$data"
[ -f "$data/dev-idp.pem" ] || "$sesame" jwt keygen "$data/dev-idp.pem"
"$sesame" jwt jwks "$data/dev-idp.pem" > "$data/dev-idp.jwks.json"
"$sesame" jwt mint --key "$data/dev-idp.pem" --sub alice --tenant dupont > "$data/alice.jwt"
echo; echo "== sesame serve on http://$listen (data: $data; Ctrl-C stops it)"
echo "   demo firm app:  http://$listen/"
echo "   admin console:  http://$listen/admin/"
echo "     as alice, the firm's administrator (a JWT of the dev identity provider, 8 h): $data/alice.jwt"
echo "     as the operator (policies, versions, activity): $data/admin.token (created on first start)"
echo "   e.g. SESAME_TOKEN=\$(cat $data/admin.token) $sesame history --server http://$listen"
exec "$sesame" serve --listen "$listen" --data "$data" \
  --bundle policies --entities policies/tests/fixtures/demo-firm.json \
  --jwt-jwks "$data/dev-idp.jwks.json" \
  --guest "$GUEST_WASM" --pkg "$PKG"
