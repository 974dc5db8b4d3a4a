"""Run a plan: each node from the cache when its key is there (checked by sha256), else computed and cached."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgekit.core.cache import Entry, Store
from edgekit.core.ui import info
from edgekit.stages import distributed
from edgekit.stages.base import Context, Node, Output

#: per-file stages run on rank 0 only under torchrun; the model chain runs on every rank (data parallel)
RANK0_ONLY = ("evaluate", "export", "verify", "bench", "gate")


@dataclass
class Step:
    """A node's outcome in this run."""

    output: Output
    seconds: float
    cached: bool


class Runner:
    """Executes a plan's nodes in order against a store; knows before running which nodes are cache hits."""

    def __init__(self, plan, store: Store, run_dir: Path, load_data: Callable, resume: Path | None = None):
        self.plan, self.store, self.run_dir = plan, store, run_dir
        self.load_data, self.resume = load_data, resume
        refresh = set(plan.setting.recipe.refresh)
        self.hits: dict[str, Entry | None] = {
            node.id: store.lookup(node.stage.name, node.key)
            if node.stage.cacheable and node.stage.name not in refresh else None
            for node in plan.nodes}
        self.steps: dict[str, Step] = {}
        self._scratch: list[Path] = []

    def run(self, nodes: list[Node], on_done: Callable[[Node, Step], None] | None = None) -> dict[str, Step]:
        """Run `nodes` (in plan order); the outputs of earlier nodes are their inputs."""
        for node in nodes:
            if not distributed.is_main() and node.stage.name in RANK0_ONLY:
                continue
            start = time.perf_counter()
            entry = self.hits.get(node.id)
            if entry is not None:
                output, cached = node.stage.load(entry.record, entry.path, node), True
                info(f"{node.id}: from cache ({node.key[:12]})")
            else:
                output, cached = self._compute(node), False
            self.steps[node.id] = Step(output, time.perf_counter() - start, cached)
            if on_done is not None:
                on_done(node, self.steps[node.id])
        return self.steps

    def _compute(self, node: Node) -> Output:
        inputs = {name: self.steps[n.id].output for name, n in node.inputs.items()}
        failed = [name for name, output in inputs.items() if not output.ok]
        if failed and not node.stage.accepts_failed_inputs:
            return Output({"skipped": f"its input {failed[0]} failed"}, ok=False)
        workdir = self.store.staging(node.stage.name)
        self._scratch.append(workdir)  # removed at close unless it becomes a cache entry
        ctx = Context(self.plan.setting, workdir, self.run_dir, self.load_data, self.resume)
        output = node.stage.run(node, inputs, ctx)
        output.folder = workdir
        if output.ok and node.stage.cacheable and distributed.is_main():
            saved = node.stage.save(output, workdir)
            entry = self.store.commit(node.stage.name, node.key, workdir, saved,
                                      {"node": node.id, "describe": node.stage.describe(node, self.plan.setting),
                                       "model": self.plan.setting.spec.name})
            self._scratch.remove(workdir)
            output.folder = entry.path
        return output

    def close(self) -> None:
        """Remove the folders of outputs that were not cached (failed files have been copied out by then)."""
        for folder in self._scratch:
            shutil.rmtree(folder, ignore_errors=True)
        self.store.close()
