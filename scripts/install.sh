#!/usr/bin/env bash
# Install cloudhp and what it needs on a Debian/Ubuntu machine with Docker (as root, or a
# user with sudo). Idempotent. cloudhp goes into a virtualenv in .venv (Debian and Ubuntu
# refuse pip installs into the system Python) and is linked as /usr/local/bin/cloudhp.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=""
command -v debootstrap >/dev/null || missing="$missing debootstrap"
command -v ssh >/dev/null || missing="$missing openssh-client"
command -v wrk >/dev/null || missing="$missing wrk"  # benchmarks/: throughput
command -v hey >/dev/null || missing="$missing hey"  # benchmarks/: a steady rate
command -v cron >/dev/null || missing="$missing cron"  # scheduled teardowns
python3 -c "import ensurepip, venv" 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
# --system-site-packages: reuse what the machine already has, install only the rest.
[ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[local,test]"
$SUDO ln -sf "$PWD/.venv/bin/cloudhp" /usr/local/bin/cloudhp
