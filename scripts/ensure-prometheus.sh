#!/usr/bin/env bash
# Makes sure Debian's prometheus (and promtool) are on PATH.
# Installs them when missing and running as root; otherwise says what to install, in one line.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "claudescale: Prometheus is missing; install it with: sudo apt-get install -y --no-install-recommends prometheus" >&2
    exit 1
fi
echo "claudescale: installing Debian's prometheus (once)..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package starts a system service on port 9090; we run our own on loopback instead.
if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus >/dev/null 2>&1 || true; fi
command -v prometheus >/dev/null && command -v promtool >/dev/null
