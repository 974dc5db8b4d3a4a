"""A tiny labelled in-memory dataset for trainer tests (random uint8 images, 4 classes)."""

from __future__ import annotations

import platform

import pytest
import torch

from edgekit.runtimes.worker import cpu_info

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


#: onnxruntime's x86 int8 kernels without VNNI (AVX2 only) multiply u8 x s8 with VPMADDUBSW, whose int16 pair sums
#: saturate, so its INT8 ONNX outputs drift from PyTorch's int8 reference beyond the tiny models' tolerances (the
#: tests marked with it passed on AVX-512 VNNI hosts and failed on an AVX2-only AMD EPYC; docs/int8.md); Arm and
#: other hosts run them
NEEDS_VNNI_FOR_ORT_INT8 = pytest.mark.skipif(
    platform.machine().lower() in ("x86_64", "amd64") and not {"avx512_vnni", "avx_vnni"} & set(cpu_info()[1]),
    reason="onnxruntime's int8 kernels saturate without VNNI (AVX2 only): ONNX INT8 parity is checked on VNNI hosts")
