"""Structured channel pruning: engine over torch-pruning, attention handlers, record of the widths it changed (edgekit.models.structure replays them)."""

from edgekit.pruning.engine import CRITERIA, SCOPES, PruneConfig, prune

__all__ = ["CRITERIA", "SCOPES", "PruneConfig", "prune"]
