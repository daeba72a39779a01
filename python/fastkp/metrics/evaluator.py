"""The keypoint evaluator: one scorer for ``Learner.validate`` (each epoch's table) and
``python -m fastkp.evaluate``, so that a checkpoint scores the same in both.

Both give it the predictions in image pixels and the labels as the data set gives them
(:func:`fastkp.pipeline.codec.labels`): every labelled point counts, inside the network's
frame or not, with the data set's visibility flags, and people of one image are matched
per image for OKS, as pycocotools does. Which metrics apply follows the data set's
metadata: box-normalised ones where its samples have boxes, ``oks_ap`` where its points
have OKS sigmas (the 17 COCO person keypoints).
"""

from __future__ import annotations

import numpy as np

from . import keypoints as kp_metrics
from ..data.dataset import DatasetMeta


class KeypointEvaluator:
    """The papers' metrics (:mod:`fastkp.metrics.keypoints`) of K points, with boxes or not, with
    COCO's OKS or not."""

    def __init__(self, n_keypoints: int, boxes: bool, oks: bool):
        self.k, self.boxes, self.oks = int(n_keypoints), bool(boxes), bool(oks)

    @classmethod
    def for_data(cls, meta: DatasetMeta, n_keypoints: int, boxes: bool) -> KeypointEvaluator:
        """The evaluator of a data set's K points (``boxes``: every sample has one): oks_ap
        where its format gives OKS sigmas and boxes (the COCO person keypoints)."""
        return cls(n_keypoints, boxes, boxes and meta.sigmas is not None)

    def names(self) -> list[str]:
        """The metrics :meth:`report` gives, in its order."""
        return kp_metrics.metric_names(self.k, self.boxes, self.oks)

    @property
    def norm(self) -> str:
        """The normaliser of the per-image NME behind ``auc_*`` and ``fr_*``."""
        return kp_metrics.primary_norm(self.k, self.boxes)

    def report(self, pred: np.ndarray, points: np.ndarray, visibility: np.ndarray, boxes: np.ndarray | None,
               image_ids: np.ndarray, areas: np.ndarray | None = None) -> dict[str, float]:
        """Every metric of :meth:`names` for ``pred`` (N, K, 2) against ``points`` (N, K, 2),
        ``visibility`` (N, K), ``boxes`` (N, 4) (used when this evaluator has boxes), the
        image each row shows, ``image_ids`` (N,), and the objects' areas OKS scales by,
        ``areas`` (N,) (:func:`fastkp.pipeline.codec.areas`; None: each box's w * h)."""
        return kp_metrics.keypoint_report(pred, points, visibility, boxes if self.boxes else None,
                                          areas if self.oks else None, coco=self.oks, image_ids=image_ids)

    def per_image(self, pred: np.ndarray, points: np.ndarray, visibility: np.ndarray,
                  boxes: np.ndarray | None) -> np.ndarray:
        """(N,) each row's NME on :attr:`norm` (NaN where it has none)."""
        return kp_metrics.nme(pred, points, visibility > 0, self.norm, boxes if self.boxes else None)
