#!/usr/bin/env bash
# Set everything up, then run the test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# The ssh device tests start a real OpenSSH server on 127.0.0.1: install it where apt can (else they skip).
if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=skip; fi
  if [ "$SUDO" != skip ]; then
    echo "test: installing Debian's openssh-server for the ssh device tests"
    $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
      openssh-server >/dev/null || echo "test: apt could not install openssh-server; the ssh tests will skip"
  fi
fi
# One worker per core (pytest-xdist; a worker that runs out of tests takes queued ones from the other's share);
# pass -n 0 to run in one process.
exec .venv/bin/python -m pytest -q -n auto --dist worksteal "$@"
