"""A disk that fills up: `edgekit compress` ends with one line and exit code 2, the earlier run is untouched, and
the next run sweeps what dead runs left behind."""

from __future__ import annotations

import subprocess
import sys

import torch
from safetensors.torch import save_file
from tmpfs import fill, mounted

from edgekit.models import resolve
from edgekit.models.build import create


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_full_disk_is_one_line_and_the_earlier_run_survives(cli, tmp_path):
    weights = tmp_path / "w.safetensors"  # trained-looking weights: no "not trained" warning on stderr
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in create(resolve("test_resnet"), 1000, 32).state_dict().items()}, weights)
    with mounted(tmp_path / "disk", "12m") as disk:
        out = disk / "run"
        args = ["compress", "test_resnet", "--data", "synthetic", "--img-size", "32", "--epochs", "0",
                "--formats", "onnx", "--weights", str(weights), "--out", str(out)]
        first = cli(*args)
        assert first.returncode == 0, first.stderr
        before = _tree(out)

        filler = fill(disk, 100 * 1024)
        full = cli(*args, "--overwrite")
        errors = [line for line in full.stderr.splitlines() if line.startswith("edgekit: error:")]
        assert full.returncode == 2, full.stderr
        assert errors == [full.stderr.strip().splitlines()[-1]] and "Traceback" not in full.stderr, full.stderr
        assert errors[0].startswith("edgekit: error: disk full:") and "0.1 MiB free on its file system" in errors[0]
        assert _tree(out) == before and sorted(p.name for p in disk.iterdir()) == ["filler", "run"]

        filler.unlink()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        (disk / f".run.partial-{int(dead.stdout)}" / "model").mkdir(parents=True)  # left by a killed run
        third = cli(*args, "--overwrite")
        assert third.returncode == 0, third.stderr
        assert sorted(p.name for p in disk.iterdir()) == ["run"]
        assert set(_tree(out)) == set(before)
