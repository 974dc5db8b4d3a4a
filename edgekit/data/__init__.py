"""Data sources and model-ready datasets."""

from edgekit.data.base import DataBundle
from edgekit.data.sources import DATASETS, check_data_spec, load_data

__all__ = ["DATASETS", "DataBundle", "check_data_spec", "load_data"]
