"""The pipeline's stages, one module each; importing this package registers them all (edgekit.stages.STAGES)."""

from edgekit.stages.attention import SwapAttention
from edgekit.stages.base import (
           STAGES,
           Context,
           ModelArtifact,
           Node,
           Output,
           Setting,
           Stage,
)
from edgekit.stages.bench import Bench
from edgekit.stages.evaluate import Evaluate
from edgekit.stages.export import Export
from edgekit.stages.gate import Gate
from edgekit.stages.prune import Prune
from edgekit.stages.quantize import Int8
from edgekit.stages.recover import Finetune, Kd
from edgekit.stages.reference import Reference
from edgekit.stages.teacher import Teacher
from edgekit.stages.verify import Verify

__all__ = ["STAGES", "Bench", "Context", "Evaluate", "Export", "Finetune", "Gate", "Int8", "Kd", "ModelArtifact",
           "Node", "Output", "Prune", "Reference", "Setting", "Stage", "SwapAttention", "Teacher",
           "Verify"]
