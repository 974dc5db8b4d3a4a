#!/usr/bin/env bash
# Idempotent set-up: .venv/ with edgekit and its pinned dependencies, plus the demo data (Fashion-MNIST).
# A second run only checks a stamp and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.edgekit-setup
want=$(cat pyproject.toml requirements/lock.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing edgekit and its pinned dependencies (first run takes a few minutes)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements/lock.txt -e '.[all,test]'
  echo "$want" > "$stamp"
fi

# Demo data: Debian's dataset-fashion-mnist where apt is available; otherwise torchvision downloads it on
# first use (online), or edgekit says how to provide it.
fmnist=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ -z "${EDGEKIT_FASHION_MNIST:-}" ] && [ ! -f "$fmnist" ] && command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=skip; fi
  if [ "$SUDO" != skip ]; then
    echo "setup: installing Debian's dataset-fashion-mnist"
    $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
      || echo "setup: apt could not install dataset-fashion-mnist; torchvision will try to download it"
  else
    echo "setup: not root: run 'sudo apt-get install dataset-fashion-mnist', or edgekit will try to download it"
  fi
fi
echo "setup: ready (.venv/bin/edgekit)"
