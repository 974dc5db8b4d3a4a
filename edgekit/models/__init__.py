"""Model zoo, construction, weights and checkpoints."""

from edgekit.models.zoo import MODELS, ModelSpec, resolve

__all__ = ["MODELS", "ModelSpec", "resolve"]
