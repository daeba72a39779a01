"""Dataset readers for the formats users already have."""

from .biwi import load_biwi
from .classes import load_class_folders, load_classes, load_classes_csv
from .coco import load_coco
from .dlc import load_dlc
from .images import ImageHeader, read_header
from .landmarks import landmark_names, load_landmarks
from .pascal import load_pascal
from .pts300w import load_300w
from .sample import DatasetError, Sample
from .utkface import load_agegender, load_agegender_csv, load_utkface
from .values import load_values
from .verification import cache_dir, check_images, verify
from .yolo_pose import load_yolo_pose

__all__ = [
    "DatasetError",
    "ImageHeader",
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
