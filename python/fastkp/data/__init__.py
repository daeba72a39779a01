"""Dataset readers for the formats users already have."""

from .sample import DatasetError, Sample

__all__ = ["DatasetError", "Sample"]
