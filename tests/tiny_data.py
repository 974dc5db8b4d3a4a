"""A tiny labelled in-memory dataset for trainer tests (random uint8 images, 4 classes)."""

from __future__ import annotations

import pytest
import torch

from edgekit.runtimes.onnxruntime import int8_weight_type

#: A tiny model trained 1 epoch on 256-512 images has near-uniform logits: PyTorch's float simulation of INT8 and the
#: integer runtimes land on either side of many near-ties, so the tiny INT8 chains gate top-1 agreement at 80%.
TINY_MIN_AGREEMENT_INT8 = 80

#: `compress` flags of the tiny end-to-end chains (prune 0.3, 1 epoch on 256 Fashion-MNIST images at 32 px)
TINY_CHAIN_FLAGS = ("--data", "fashion-mnist", "--subset", "256", "--img-size", "32", "--epochs", "1",
                    "--prune", "0.3", "--eval-samples", "64", "--parity-samples", "8", "--no-bench",
                    "--min-agreement-int8", str(TINY_MIN_AGREEMENT_INT8))


def tiny_data(n: int = 64, size: int = 32, classes: int = 4):
    from edgekit.data.base import DataBundle, TensorImages
    from edgekit.models.build import Preprocessing

    prep = Preprocessing((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear", 1.0)
    images = torch.randint(0, 255, (n, 1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(n) % classes
    return DataBundle("tiny", train=TensorImages(images, labels, size, prep, train=True),
                      val=TensorImages(images[:16], labels[:16], size, prep, train=False), num_classes=classes,
                      class_names=None, has_labels=True)


#: onnxruntime's x86 u8·s8 kernels without VNNI (AVX2 only) multiply with VPMADDUBSW, whose int16 pair sums
#: saturate, so an INT8 ONNX file with int8 weights drifts from PyTorch's int8 reference there (exported files
#: default to uint8 weights on such hosts, edgekit.runtimes.onnxruntime); tests of int8 weights' exactness need VNNI
NEEDS_VNNI_FOR_ORT_INT8 = pytest.mark.skipif(
    int8_weight_type() == "uint8",
    reason="onnxruntime's u8·s8 kernels saturate without VNNI (AVX2 only): int8 weights' parity is checked with VNNI")
