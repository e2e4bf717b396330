#!/usr/bin/env bash
# Make the offline base image the service images build FROM: Debian bookworm (CPython 3.11)
# from debootstrap, imported into podman as localhost/mcp-base:bookworm; prints that name.
#
# Real users build on python:3.11-slim (the Dockerfiles' default BASE_IMAGE); these machines
# reach no container registry, only Debian's package archive. The root file system is cached
# as a tarball under ~/.cache/mcp-platform/images, so a warm run only re-imports it (seconds),
# or does nothing when podman already has the image.
#
#   build-support/podman/base-image.sh            # make or reuse it
#   BASE_IMAGE="$(build-support/podman/base-image.sh)" ./pants package src/docker::
set -euo pipefail

name="localhost/mcp-base:bookworm"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mcp-platform/images"
tarball="${cache}/debian-bookworm-python3.tar"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers.conf}"

if podman image exists "$name"; then
  echo "$name"
  exit 0
fi

if [[ ! -f "$tarball" ]]; then
  command -v debootstrap >/dev/null || {
    echo "base-image: debootstrap is not installed (Debian: apt-get install debootstrap)" >&2
    exit 1
  }
  mkdir -p "$cache"
  scratch="$(mktemp -d "${cache}/.partial-XXXXXX")"
  trap 'rm -rf "$scratch"' EXIT
  echo "base-image: debootstrap bookworm (about a minute)" >&2
  debootstrap --variant=minbase --include=python3,ca-certificates bookworm "${scratch}/root" \
    >"${scratch}/debootstrap.log" 2>&1 || {
    tail -n 20 "${scratch}/debootstrap.log" >&2
    exit 1
  }
  # What a running service never reads: package lists and caches, documentation, locales.
  rm -rf "${scratch}/root"/var/cache/apt/* "${scratch}/root"/var/lib/apt/lists/* \
    "${scratch}/root"/usr/share/{doc,man,info,locale}/* "${scratch}/root"/var/log/*
  tar --numeric-owner -C "${scratch}/root" -cf "${scratch}/root.tar" .
  mv "${scratch}/root.tar" "$tarball"
fi

podman import --quiet "$tarball" "$name" >/dev/null
echo "$name"
