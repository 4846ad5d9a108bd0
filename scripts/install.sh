#!/usr/bin/env bash
# Install cloudhp and what it needs on a Debian/Ubuntu machine with Docker (run as root,
# or with sudo available). Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v debootstrap >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
