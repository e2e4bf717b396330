#!/usr/bin/env bash
# Install Debian's cosign into a folder, on a bookworm machine: cosign is packaged from Debian 13
# (trixie) on, as a static Go binary that needs only libc. apt reads trixie's package list into a
# scratch folder (the machine's own apt sources, with the suite renamed), downloads the package
# and its binary is unpacked; nothing is installed into the system and its apt state is untouched.
#
#   build-support/release/install-cosign.sh ~/.cache/mcp-platform/bin   # prints the binary's path
set -euo pipefail

dest="${1:?usage: install-cosign.sh DEST_DIR}"
if [[ -x "${dest}/cosign" ]]; then
  echo "${dest}/cosign"
  exit 0
fi
if command -v cosign >/dev/null; then
  command -v cosign
  exit 0
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "${scratch}/parts" "${scratch}/lists/partial" "${scratch}/cache/archives/partial" "${scratch}/pkg"
found=false
for source in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  [[ -f "$source" ]] || continue
  grep -q bookworm "$source" || continue
  name="${source##*/}"
  [[ "$name" == *.sources ]] || name="${name%.list}.list"
  sed -e 's/bookworm/trixie/g' "$source" >"${scratch}/parts/trixie-${name}"
  found=true
done
[[ "$found" == true ]] || {
  echo "install-cosign: no bookworm apt source to derive trixie's from" >&2
  exit 1
}
apt_opts=(
  -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=${scratch}/parts"
  -o "Dir::State::Lists=${scratch}/lists" -o "Dir::Cache=${scratch}/cache"
  -o "Dir::State::Status=/var/lib/dpkg/status" -o "Debug::NoLocking=1"
)
apt-get "${apt_opts[@]}" update -qq >"${scratch}/apt.log" 2>&1 || {
  tail -n 20 "${scratch}/apt.log" >&2
  exit 1
}
(cd "${scratch}/pkg" && apt-get "${apt_opts[@]}" download cosign >>"${scratch}/apt.log" 2>&1) || {
  tail -n 20 "${scratch}/apt.log" >&2
  exit 1
}
dpkg-deb -x "${scratch}"/pkg/cosign_*.deb "${scratch}/root"
mkdir -p "$dest"
install -m 0755 "${scratch}/root/usr/bin/cosign" "${dest}/cosign.partial"
mv "${dest}/cosign.partial" "${dest}/cosign"
echo "${dest}/cosign"
