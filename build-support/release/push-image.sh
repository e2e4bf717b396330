#!/usr/bin/env bash
# Push the image `./pants package` built for one deployable, and print where it went as the
# dotenv lines the later jobs read (IMAGE_REPOSITORY, IMAGE_TAG, IMAGE_DIGEST, IMAGE_REF).
#
#   build-support/release/push-image.sh users "$ACR_NAME.azurecr.io/mcp-platform" >build-users.env
#
# The image is the one dist/src.docker/mcp-<name>.docker-info.json records (its id, not a tag
# that another build could have moved); it is pushed as <repository>/mcp-<name>:<tag>
# (IMAGE_TAG, default CI_COMMIT_SHORT_SHA) and everything after it uses the digest the
# registry answered, never the tag. The same engine that built it pushes it (podman), so no
# docker daemon is involved. Registry credentials: podman's (REGISTRY_AUTH_FILE, `podman
# login`). REGISTRY_TLS_VERIFY=false is for a plain-HTTP registry on 127.0.0.1 (the tests).
set -euo pipefail

name="${1:?usage: push-image.sh DEPLOYABLE REPOSITORY_PREFIX}"
prefix="${2:?usage: push-image.sh DEPLOYABLE REPOSITORY_PREFIX}"
tag="${IMAGE_TAG:-${CI_COMMIT_SHORT_SHA:?IMAGE_TAG or CI_COMMIT_SHORT_SHA must be set}}"
info="dist/src.docker/mcp-${name}.docker-info.json"
[[ -f "$info" ]] || {
  echo "push-image: $info is missing: run ./pants package src/docker:mcp-${name} first" >&2
  exit 1
}
image_id="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["image_id"])' "$info")"
repository="${prefix%/}/mcp-${name}"
digestfile="$(mktemp)"
trap 'rm -f "$digestfile"' EXIT
podman push --quiet --tls-verify="${REGISTRY_TLS_VERIFY:-true}" --digestfile "$digestfile" \
  "$image_id" "docker://${repository}:${tag}" >&2
digest="$(cat "$digestfile")"
[[ "$digest" == sha256:* ]] || {
  echo "push-image: the registry answered no digest for ${repository}:${tag}" >&2
  exit 1
}
echo "push-image: ${repository}:${tag} is ${digest}" >&2
printf 'IMAGE_REPOSITORY=%s\nIMAGE_TAG=%s\nIMAGE_DIGEST=%s\nIMAGE_REF=%s@%s\n' \
  "$repository" "$tag" "$digest" "$repository" "$digest"
