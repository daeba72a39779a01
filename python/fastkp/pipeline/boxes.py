"""Box crops: the window of the source image that a sample's box maps onto the output frame.

A box is (x0, y0, x1, y1) in source pixels (it may reach outside the image). Its window
keeps the box's centre, is ``1 + margin`` times its width and height, and then either
squashes onto the output frame (``"squash"``, as fastai resizes whole images) or grows
its shorter side until it has the output frame's aspect ratio (``"pad"``, so the object
keeps its proportions; what lies outside the image shows as the loader's padding). A box
narrower than one pixel counts as one pixel wide.

:func:`box_windows` is the one computation: the loaders call it through
:meth:`BoxCrop.windows`, the exported model (:class:`fastkp.export.module.DeployModule`)
inside its graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import UsageError
from .geometry import HW

BOX_MODES = ("pad", "squash")


@dataclass(frozen=True)
class BoxCrop:
    """How a box becomes the window the loaders (and the exported model) crop."""

    margin: float = 0.25
    mode: str = "pad"

    def __post_init__(self) -> None:
        if not (isinstance(self.margin, (int, float)) and 0.0 <= self.margin <= 4.0):
            raise UsageError(f"box margin must be in [0, 4], got {self.margin!r}", setting="box_margin")
        if self.mode not in BOX_MODES:
            raise UsageError(f"box mode must be one of {', '.join(BOX_MODES)}, got {self.mode!r}", setting="box_mode")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> BoxCrop | None:
        return None if d is None else cls(float(d["margin"]), str(d["mode"]))

    def windows(self, boxes: np.ndarray, out_hw: HW) -> np.ndarray:
        """(N, 4) float64 windows (x0, y0, w, h) of (N, 4) boxes for an output of ``out_hw``."""
        origin, wh = box_windows(torch.from_numpy(np.asarray(boxes, np.float64)), float(self.margin),
                                 self.mode == "pad", float(out_hw[1]) / float(out_hw[0]))
        return torch.cat([origin, wh], 1).numpy()


def box_windows(boxes: torch.Tensor, margin: float, pad: bool, aspect: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, y0) and (w, h) of the windows of (N, 4) ``boxes``: centred on each box, 1 + margin
    times its size (at least one pixel), widened to ``aspect`` (output width / height) with
    ``pad``. Scriptable: the exported model runs it in its graph."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp_min(1.0) * (1.0 + margin)
    if pad:
        wh = torch.stack([torch.maximum(wh[:, 0], wh[:, 1] * aspect), torch.maximum(wh[:, 1], wh[:, 0] / aspect)], 1)
    return centre - wh / 2, wh


def check_boxes(boxes: np.ndarray, where: str, names: Sequence[str] | None = None) -> np.ndarray:
    """(N, 4) float32 boxes (the precision models take) with finite coordinates and x1 > x0,
    y1 > y0; UsageError naming ``where`` (or ``names[i]``, the bad box's owner) and the first
    bad box otherwise (an int beyond float64 too)."""
    try:
        boxes = np.asarray(boxes, np.float64)
    except (OverflowError, ValueError) as e:  # an int beyond float64, ragged boxes
        raise UsageError(f"{where}: boxes must be (N, 4) numbers as x0, y0, x1, y1 ({e})") from None
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise UsageError(f"{where}: boxes must be (N, 4) as x0, y0, x1, y1; got shape {boxes.shape}")
    with np.errstate(over="ignore"):  # past float32's range: inf, refused below
        boxes = boxes.astype(np.float32)
    bad = ~np.isfinite(boxes).all(1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bad.any():
        i = int(np.argmax(bad))
        owner = f"{names[i]}: box" if names is not None else f"{where}: box {i}"
        raise UsageError(f"{owner} {boxes[i].tolist()} must be finite (as float32) with x1 > x0 and y1 > y0")
    return boxes
