"""Structured channel pruning: engine over torch-pruning, attention handlers, record of the widths it changed (edgekit.models.structure replays them)."""

from edgekit.pruning.engine import CRITERIA, PruneConfig, prune

__all__ = ["CRITERIA", "PruneConfig", "prune"]
