#!/usr/bin/env bash
# Install the Debian packages this project needs to build and test, when they are missing.
# A no-op (one dpkg-query) when everything is present. Needs root or sudo only when something is missing.
set -euo pipefail

# Build: compiler, pkg-config and the six runtime libraries (libcurl in its GnuTLS flavour).
# Test: prove (perl), python3 with jsonschema and yaml for the test servers, openssl-free TLS tools
# (gnutls-bin gives certtool), sqlite3 for the docs' examples, kubectl (the referee; Debian ships it as
# kubernetes-client), clang for fuzzing.
PKGS=(
  build-essential pkg-config
  libsqlite3-dev libcurl4-gnutls-dev libjansson-dev libyaml-dev libgnutls28-dev libev-dev
  perl python3 python3-jsonschema python3-yaml python3-kubernetes gnutls-bin sqlite3 curl ca-certificates
  clang clang-format
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# kubectl may come from elsewhere (a cloud SDK, a static binary); only fall back to Debian's package.
if ! command -v kubectl >/dev/null 2>&1; then
  missing+=(kubernetes-client)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-requirements: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-requirements: these Debian packages are missing and I am not root: ${missing[*]}" >&2
    echo "install-requirements: run 'apt-get install ${missing[*]}' as root, then make again." >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
