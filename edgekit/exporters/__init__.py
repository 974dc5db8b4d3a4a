"""Exporters: one module per format, each named by its row of the formats table (edgekit.core.formats)."""

from edgekit.exporters.base import ExportResult, export

__all__ = ["ExportResult", "export"]
