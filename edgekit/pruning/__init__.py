"""Structured channel pruning: engine over torch-pruning, attention handlers, structure record/replay."""

from edgekit.pruning.engine import CRITERIA, SCOPES, PruneConfig, prune

__all__ = ["CRITERIA", "SCOPES", "PruneConfig", "prune"]
