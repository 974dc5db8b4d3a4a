"""Helpers of the plugin tests: a module of models, and an installed distribution declaring an entry point."""

import os
import subprocess
import sys

TINY_MODULE = '''
import torch
import edgekit


@edgekit.register_model(family="tinynet", img_size=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
def {name}(num_classes: int, img_size: int, **kwargs) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(8, num_classes))
'''


def plugin_distribution(site, name: str, module: str, source: str) -> None:
    """An installed distribution in `site` (a folder on PYTHONPATH) declaring one `edgekit.models` entry point."""
    package = site / module.split(".")[0]
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (site / f"{module.replace('.', '/')}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[edgekit.models]\n{name} = {module}\n")


def run(site, *args, debug=False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    env.pop("EDGEKIT_DEBUG", None)
    if debug:
        env["EDGEKIT_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", "edgekit", *args], env=env, capture_output=True, text=True,
                          timeout=300)
