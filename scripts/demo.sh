#!/usr/bin/env bash
# Set everything up, then run the main job on the embedded default (Fashion-MNIST): train an EfficientNet-Lite0
# teacher at 64 px, export it to ONNX, TFLite and ExecuTorch, verify each file in its runtime and time it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/edgekit compress effnet_lite0 --data fashion-mnist --img-size 64 --subset 20000 --epochs 3 \
  --out runs/demo --overwrite "$@"
echo "demo: open runs/demo/report.md"
