#!/usr/bin/env bash
# Sign a pushed image by its digest and attach its SBOM as a signed CycloneDX attestation, both
# stored in the registry beside the image; then verify both with the public key, so a job
# that signed with the wrong key fails here rather than at admission on AKS.
#
#   COSIGN_KEY=azurekms://<vault>.vault.azure.net/<key> COSIGN_PUBLIC_KEY=cosign.pub \
#     build-support/release/sign-image.sh "$IMAGE_REF" dist/supply-chain/mcp-users.cdx.json
#
# COSIGN_KEY: any key reference cosign takes (an Azure Key Vault key in the pipeline; a key
# file in the tests, with COSIGN_PASSWORD). Nothing goes to the public transparency log: the
# image names are internal (AKS verifies with the key, see AKS_DEPLOYMENT_GUIDE.md).
# REGISTRY_TLS_VERIFY=false allows a plain-HTTP registry on 127.0.0.1 (the tests).
set -euo pipefail

ref="${1:?usage: sign-image.sh IMAGE@sha256:DIGEST SBOM}"
sbom="${2:?usage: sign-image.sh IMAGE@sha256:DIGEST SBOM}"
key="${COSIGN_KEY:?COSIGN_KEY must name the signing key}"
public="${COSIGN_PUBLIC_KEY:-$key}"
[[ "$ref" == *@sha256:* ]] || {
  echo "sign-image: $ref is not a digest reference (repository@sha256:...); sign what was pushed" >&2
  exit 1
}
[[ -s "$sbom" ]] || {
  echo "sign-image: the SBOM $sbom is missing or empty" >&2
  exit 1
}
cosign="${COSIGN:-cosign}"
registry=()
if [[ "${REGISTRY_TLS_VERIFY:-true}" == false ]]; then
  registry=(--allow-http-registry)
fi
# Without the transparency log, verification must not ask for it.
verify=(--insecure-ignore-tlog=true "${registry[@]}")

"$cosign" sign --yes --key "$key" --tlog-upload=false "${registry[@]}" "$ref" >&2
"$cosign" attest --yes --key "$key" --tlog-upload=false "${registry[@]}" \
  --type cyclonedx --predicate "$sbom" "$ref" >&2
"$cosign" verify --key "$public" "${verify[@]}" "$ref" >/dev/null
"$cosign" verify-attestation --key "$public" --type cyclonedx "${verify[@]}" "$ref" >/dev/null
echo "sign-image: $ref signed and its SBOM attested (verified with $public)" >&2
