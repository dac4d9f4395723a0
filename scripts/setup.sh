#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for aotpack: the Debian tools the tests and `verify`
# use, then the npm dependencies (Bun comes from npm), then the compiled CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  ca-certificates curl git xz-utils zstd gpgv debian-archive-keyring iproute2 util-linux
  runc qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross   # run/verify sandbox; arm64 images and binaries
  skopeo umoci docker-registry buildah docker.io              # independent readers, registry, builders
  apache2-utils openssl busybox-static                        # htpasswd/token auth tests, tiny static test binary
  wrk hyperfine                                               # benchmarks
  clang zlib1g-dev gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross  # .NET NativeAOT (host + arm64 cross)
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "setup: npm ci"
npm ci --no-audit --no-fund
echo "setup: building the CLI"
npm run build --silent
echo "setup: done ($(node --version), bun $(node_modules/.bin/bun --version))"
