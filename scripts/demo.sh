#!/usr/bin/env bash
# Set everything up, then run the main job on the embedded default (Fashion-MNIST, 64 px): train a
# MobileNetV3-Small teacher, prune 30% of its channels, distil, quantize to INT8 with QAT, export ONNX, TFLite and
# ExecuTorch files, verify each in its runtime on the full 10k test split and time it against the FP32 teacher's
# files. The settings are recipes/quickstart.yaml's; the training recipe comes from the model's family.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/edgekit compress --recipe recipes/quickstart.yaml --out runs/demo --overwrite "$@"
echo "demo: open runs/demo/report.md"
