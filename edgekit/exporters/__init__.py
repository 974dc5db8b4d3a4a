"""Exporters: one module per format, selected through the FORMATS table."""

from edgekit.exporters.base import FORMATS, ExportResult, FormatSpec, format_for_path, parse_formats

__all__ = ["FORMATS", "ExportResult", "FormatSpec", "format_for_path", "parse_formats"]
