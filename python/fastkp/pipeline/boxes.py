"""Box crops: the window of the source image that a sample's box maps onto the output frame.

A box is (x0, y0, x1, y1) in source pixels (it may reach outside the image). Its window
keeps the box's centre, is ``1 + margin`` times its width and height, and then either
squashes onto the output frame (``"squash"``, as fastai resizes whole images) or grows
its shorter side until it has the output frame's aspect ratio (``"pad"``, so the object
keeps its proportions; what lies outside the image shows as the loader's padding). A box
narrower than one pixel counts as one pixel wide.

The same window is computed in numpy here (loaders) and in torch by the exported model
(:class:`fastkp.export.module.DeployModule`); a test holds them equal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .geometry import HW

BOX_MODES = ("pad", "squash")


@dataclass(frozen=True)
class BoxCrop:
    """How a box becomes the window the loaders (and the exported model) crop."""

    margin: float = 0.25
    mode: str = "pad"

    def __post_init__(self) -> None:
        if not (isinstance(self.margin, (int, float)) and 0.0 <= self.margin <= 4.0):
            raise ValueError(f"box margin must be in [0, 4], got {self.margin!r}")
        if self.mode not in BOX_MODES:
            raise ValueError(f"box mode must be one of {', '.join(BOX_MODES)}, got {self.mode!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> BoxCrop | None:
        return None if d is None else cls(float(d["margin"]), str(d["mode"]))

    def windows(self, boxes: np.ndarray, out_hw: HW) -> np.ndarray:
        """(N, 4) float64 windows (x0, y0, w, h) of (N, 4) boxes for an output of ``out_hw``."""
        boxes = np.asarray(boxes, np.float64)
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2
        wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0) * (1.0 + self.margin)
        if self.mode == "pad":
            aspect = out_hw[1] / out_hw[0]  # width / height
            wh = np.stack([np.maximum(wh[:, 0], wh[:, 1] * aspect), np.maximum(wh[:, 1], wh[:, 0] / aspect)], 1)
        return np.concatenate([centre - wh / 2, wh], axis=1)


def check_boxes(boxes: np.ndarray, where: str) -> np.ndarray:
    """(N, 4) float32 boxes with finite coordinates and x1 > x0, y1 > y0; ValueError naming
    ``where`` and the first bad box otherwise."""
    boxes = np.asarray(boxes, np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{where}: boxes must be (N, 4) as x0, y0, x1, y1; got shape {boxes.shape}")
    bad = ~np.isfinite(boxes).all(1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{where}: box {i} {boxes[i].tolist()} must be finite with x1 > x0 and y1 > y0")
    return boxes.astype(np.float32)
