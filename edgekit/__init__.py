"""edgekit: compress, export, verify and benchmark vision models for edge devices."""

__version__ = "0.1.0"

from edgekit.models import register_model  # noqa: E402 - after __version__ (edgekit.models.checkpoint imports it)

__all__ = ["__version__", "register_model"]
