"""Dataset readers for the formats users already have."""

from .biwi import load_biwi
from .images import ImageHeader, read_header
from .landmarks import landmark_names, load_landmarks
from .pascal import load_pascal
from .sample import DatasetError, Sample

__all__ = [
    "DatasetError",
    "ImageHeader",
    "Sample",
    "landmark_names",
    "load_biwi",
    "load_landmarks",
    "load_pascal",
    "read_header",
]
