#!/usr/bin/env bash
# Build an etcd node image from Debian packages, with no container registry.
#
#   docker/build-image.sh [SUITE]      SUITE: trixie (etcd 3.5.16, the default), bookworm (3.4.23), sid (3.5.30)
#
# debootstrap makes a minimal rootfs with etcd, iptables, iproute2 and procps;
# `docker import` turns it into an image tagged etcd-harness/etcd:<etcd version>
# (and etcd-harness/etcd:<suite>). etcd is the entrypoint, in exec form, so it is
# PID 1 and receives signals directly.
#
# Idempotent: when the tag for SUITE already exists, it does nothing.
# The Debian mirror is the one this machine's apt already uses; set
# DEBIAN_MIRROR to override it.
set -euo pipefail

suite=${1:-trixie}
case "$suite" in
  bookworm) version=3.4.23 ;;
  trixie)   version=3.5.16 ;;
  sid)      version=3.5.30 ;;
  *) echo "build-image: unknown suite '$suite' (allowed: bookworm, trixie, sid)" >&2; exit 2 ;;
esac
repo=${IMAGE_REPO:-etcd-harness/etcd}

if docker image inspect "$repo:$suite" >/dev/null 2>&1; then
  echo "build-image: $repo:$suite exists ($(docker image inspect -f '{{index .Config.Labels "etcd-harness.etcd-version"}}' "$repo:$suite")); nothing to do"
  exit 0
fi

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # The first non-security URI of this machine's apt configuration (deb822 or one-line format).
  mirror=$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n1 || true)
fi
if [ -z "$mirror" ]; then
  echo "build-image: no Debian mirror found in /etc/apt; set DEBIAN_MIRROR=<url of a Debian archive>" >&2
  exit 2
fi
if ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "build-image: installing debootstrap"
    apt-get install -y -qq debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  else
    echo "build-image: debootstrap is missing: sudo apt-get install debootstrap (or build docker/Dockerfile where Docker can pull)" >&2
    exit 2
  fi
fi

work=$(mktemp -d /tmp/etcd-harness-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "build-image: debootstrap $suite into $work"
debootstrap --variant=minbase --no-check-gpg \
  --include=etcd-server,etcd-client,iptables,iproute2,procps,iputils-ping,netcat-openbsd \
  "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

got=$(chroot "$work/rootfs" dpkg-query -W -f '${Version}' etcd-server | sed -E 's/^([0-9]+\.[0-9]+\.[0-9]+).*/\1/')
if [ "$got" != "$version" ]; then
  echo "build-image: note: $suite ships etcd $got, not $version; tagging $got"
  version=$got
fi
# Trim what a node never needs: docs, man pages, apt lists and caches.
rm -rf "$work/rootfs"/usr/share/{doc,man,info,locale} "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*

tar -C "$work/rootfs" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/bin/etcd"]' \
  --change 'ENV ETCD_UNSUPPORTED_ARCH=' \
  --change "LABEL etcd-harness.etcd-version=$version" \
  --change "LABEL etcd-harness.suite=$suite" \
  - "$repo:$version" >/dev/null
docker tag "$repo:$version" "$repo:$suite"
echo "build-image: built $repo:$version ($repo:$suite) in $(( $(date +%s) - start )) s"
