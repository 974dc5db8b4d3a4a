"""Model zoo, model plugins, construction, weights and checkpoints."""

from edgekit.models.plugins import register_model
from edgekit.models.zoo import MODELS, ModelSpec, resolve

__all__ = ["MODELS", "ModelSpec", "register_model", "resolve"]
