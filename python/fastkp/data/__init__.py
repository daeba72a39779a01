"""Dataset readers for the formats users already have.

Each reader returns a :class:`Dataset` and registers its format(s) in
``fastkp.data.formats`` on import; the imports below run in the order that makes
each target's first format its default (keypoints: csv, then 300w, coco, dlc, yolo).
"""

from .biwi import load_biwi
from .pascal import load_pascal
from .landmarks import landmark_names, load_landmarks
from .w300 import load_300w
from .coco import load_coco
from .dlc import load_dlc
from .yolo import load_yolo_pose
from .regression import load_values
from .agegender import load_agegender, load_agegender_csv, load_utkface
from .classify import load_class_folders, load_classes, load_classes_csv
from .dataset import Dataset, DatasetMeta
from .formats import Format, ReadOptions
from .images import ImageHeader, read_header
from .sample import DatasetError, Sample
from .verification import cache_dir, check_images, verify

__all__ = [
    "Dataset",
    "DatasetError",
    "DatasetMeta",
    "Format",
    "ImageHeader",
    "ReadOptions",
    "Sample",
    "landmark_names",
    "load_300w",
    "load_coco",
    "load_dlc",
    "load_yolo_pose",
    "load_agegender",
    "load_agegender_csv",
    "load_biwi",
    "load_class_folders",
    "load_classes",
    "load_classes_csv",
    "load_landmarks",
    "load_pascal",
    "load_utkface",
    "load_values",
    "read_header",
    "cache_dir",
    "check_images",
    "verify",
]
