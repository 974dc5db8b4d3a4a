"""edgekit: compress, export, verify and benchmark vision models for edge devices."""

__version__ = "0.1.0"
