"""Stages whose output is a model: how it is kept in a cache entry and read back (lazily) on a hit."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from edgekit.models.checkpoint import ModelDescription, load_checkpoint, save_checkpoint
from edgekit.models.program import PROGRAM_FILE, load_program, save_program
from edgekit.stages.base import ModelArtifact, Node, Output, Stage

CHECKPOINT_DIR = "model"


class ModelStage(Stage):
    """An FP32 output is a checkpoint (safetensors + model.json); an int8 one adds its PT2E program."""

    def save(self, output: Output, folder: Path) -> dict:
        artifact = output.model
        save_checkpoint(folder / CHECKPOINT_DIR, artifact.float_module, artifact.description)
        if artifact.precision == "int8":
            save_program(folder / PROGRAM_FILE, artifact.module, artifact.description.img_size)
        return {"metrics": output.metrics, "precision": artifact.precision,
                "description": asdict(artifact.description)}

    def load(self, saved: dict, folder: Path, node: Node) -> Output:
        description = ModelDescription(**saved["description"])
        float_model = lambda: load_checkpoint(folder / CHECKPOINT_DIR)[0]  # noqa: E731
        if saved["precision"] == "int8":
            artifact = ModelArtifact(description, "int8", load=lambda: load_program(folder / PROGRAM_FILE),
                                     load_float=float_model)
        else:
            artifact = ModelArtifact(description, load=float_model)
        return Output(metrics=saved["metrics"], model=artifact, folder=folder)
