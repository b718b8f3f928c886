#!/usr/bin/env bash
# Fetches Debian's kubectl (package kubernetes-client) into .cache/kubectl/ without installing
# it: `apt-get download` + `dpkg -x`. The compatibility tests use this binary, never a kubectl
# that happens to be on PATH. Prints the path of the unpacked kubectl on stdout.
# Runs `apt-get update` once when the download fails because the package lists are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="$PWD/.cache/kubectl"
kubectl="$cache/root/usr/bin/kubectl"
if [ -x "$kubectl" ]; then
    echo "$kubectl"
    exit 0
fi
mkdir -p "$cache/debs"
download() { (cd "$cache/debs" && apt-get download -qq kubernetes-client >/dev/null 2>&1); }
if ! download; then
    echo "claudescale: apt-get download failed; refreshing package lists (apt-get update)..." >&2
    apt-get update -qq >/dev/null
    download || { echo "claudescale: cannot download Debian's kubernetes-client package." >&2; exit 1; }
fi
deb="$(ls -t "$cache"/debs/kubernetes-client_*.deb | head -n 1)"
rm -rf "$cache/root.tmp"
dpkg -x "$deb" "$cache/root.tmp"
rm -rf "$cache/root"
mv "$cache/root.tmp" "$cache/root"
test -x "$kubectl"
echo "$kubectl"
