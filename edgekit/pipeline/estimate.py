"""How long a plan will take on this machine: a short measured probe of training and inference speed, and the
seconds earlier runs of each step took here (kept beside the cache), scaled to this model."""

from __future__ import annotations

import json
import math
import os
import time

import torch

from edgekit.bench.environment import cpu_info
from edgekit.core.io import atomic_write_json
from edgekit.core.paths import cache_dir
from edgekit.data.progressive import pixel_share
from edgekit.models.build import create
from edgekit.models.complexity import count_params

PROBE_BATCH = 64  # images per step at 64 px (at most the training batch); fewer at larger sizes keep it to seconds
PROBE_STEPS = 3  # timed after two warm-up calls; the fastest counts (other load on the machine only slows steps)
#: seconds of a first export of a 5M-parameter model per format, before any history exists (measured on this
#: machine kind: effnet_lite0 at 64 px, benchmarks/results/cache_rerun.json)
EXPORT_SECONDS = {"onnx": 6.0, "tflite": 14.0, "pte": 18.0, "capture": 6.0}
EXPORT_REFERENCE_PARAMS = 5e6
#: per-image time in each runtime relative to PyTorch's batched inference
RUNTIME_FACTOR = {"onnx": 0.7, "tflite": 1.0, "pte": 1.0}
#: a PT2E int8 model in PyTorch against its float model (quantize/dequantize pairs computed in float)
INT8_SIMULATION = 1.5


class Probe:
    """Speeds of the plan's architecture on this machine, measured once on demand and remembered on disk."""

    def __init__(self, setting):
        self.setting = setting
        self._speeds: dict | None = None
        self.history = History()

    def _key(self) -> str:
        model, flags = cpu_info()
        s = self.setting
        return f"{s.spec.arch}@{s.img_size}/{s.num_classes}:{torch.get_num_threads()}t:{model}:{len(flags)}"

    def speeds(self) -> dict:
        """Seconds per image: training step (batched), inference (batched) and single-image inference."""
        if self._speeds is None:
            known = self.history.probes.get(self._key())
            self._speeds = known or self._measure()
            if known is None:
                self.history.probes[self._key()] = self._speeds
                self.history.save()
        return self._speeds

    def _measure(self) -> dict:
        s = self.setting
        torch.manual_seed(0)
        batch = max(2, min(s.recipe.train.batch_size, int(PROBE_BATCH * (64 / s.img_size) ** 2)))
        model = create(s.spec, s.num_classes, s.img_size).to(memory_format=torch.channels_last)
        x = torch.randn(batch, 3, s.img_size, s.img_size).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, s.num_classes, (batch,))
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        model.train()

        def step():
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()

        train = _timed(step, PROBE_STEPS) / batch
        model.eval()
        with torch.inference_mode():
            infer = _timed(lambda: model(x), PROBE_STEPS) / batch
            single = _timed(lambda: model(x[:1]), PROBE_STEPS * 2)
        return {"train": train, "infer": infer, "single": single, "params": count_params(model)}

    def training_seconds(self, epochs: float, n_train: int, n_val: int, eval_samples: int | None,
                         teacher_forward: bool = False, progressive: float | None = None) -> float:
        """Epochs of training plus a validation pass after each (KD adds the teacher's forward pass); progressive
        resizing from `progressive` of the size trains on a share of the pixels and costs that share."""
        speeds = self.speeds()
        per_image = speeds["train"] + (speeds["infer"] if teacher_forward else 0.0)
        n_eval = min(eval_samples or n_val, n_val)
        share = pixel_share(math.ceil(epochs), self.setting.img_size, progressive, self.setting.spec.img_multiple)
        return epochs * (n_train * per_image * share + n_eval * speeds["infer"])

    def inference_seconds(self, n: int, single: bool = False, int8: bool = False, runtime: str | None = None) -> float:
        """`n` images through the model; an int8 model in PyTorch simulates its rounding in float (slower)."""
        speeds = self.speeds()
        per_image = speeds["single"] if single else speeds["infer"] * RUNTIME_FACTOR.get(runtime or "", 1.0)
        return n * per_image * (INT8_SIMULATION if int8 and runtime is None else 1.0)

    def export_seconds(self, fmt: str, int8: bool = False) -> float:
        """What this step took here before for this model, else a first-export figure scaled by parameter count."""
        s = self.setting
        known = self.history.seconds.get(History.step("export", fmt, s.spec.name, s.img_size, int8))
        if known is not None:
            return known
        params = self.history.probes.get(self._key(), {}).get("params") or EXPORT_REFERENCE_PARAMS
        return EXPORT_SECONDS[fmt] * (0.5 + 0.5 * params / EXPORT_REFERENCE_PARAMS) * (1.5 if int8 else 1.0)


def _timed(call, repeats: int) -> float:
    """Seconds of the fastest of `repeats` calls, after two warm-up calls (allocations, kernel selection)."""
    call()
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


class History:
    """Measured speeds and step durations on this machine, in the cache folder (a best-effort file)."""

    def __init__(self):
        self.path = cache_dir() / "timings.json"
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            saved = {}
        self.probes: dict = saved.get("probes", {}) if isinstance(saved, dict) else {}
        self.seconds: dict = saved.get("seconds", {}) if isinstance(saved, dict) else {}

    @staticmethod
    def step(stage: str, target: str | None, model: str, img_size: int, int8: bool) -> str:
        return f"{stage}:{target or '-'}:{model}@{img_size}:{'int8' if int8 else 'fp32'}:{os.cpu_count()}cpu"

    def record(self, node, setting, seconds: float) -> None:
        int8 = any(n.stage.name == "int8" for n in node.inputs.values())
        self.seconds[self.step(node.stage.name, node.target, setting.spec.name, setting.img_size, int8)] = \
            round(seconds, 2)

    def save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, {"probes": self.probes, "seconds": self.seconds})
        except OSError:
            pass  # an estimate is a convenience: a read-only or full cache only costs its accuracy
