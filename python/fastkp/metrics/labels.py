"""Classification metrics over whole validation arrays: ``accuracy_multi`` at a threshold,
``mAP`` (mean over classes of average precision), the threshold that maximises
accuracy_multi and the share of images it leaves without any label.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP of one class: mean precision at the rank of each positive (NaN without positives)."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order] > 0.5
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def classification_metrics(probs: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """probs, labels (N, C); mAP over classes with at least one positive."""
    aps = [average_precision(probs[:, c], labels[:, c]) for c in range(labels.shape[1])]
    aps = [a for a in aps if not np.isnan(a)]
    truth = labels > 0.5
    acc = {float(t): float(((probs > t) == truth).mean()) for t in THRESHOLDS}
    best = max(acc, key=acc.get)
    return {
        "accuracy_multi": float(((probs > threshold) == truth).mean()),
        "mAP": float(np.mean(aps)) if aps else float("nan"),
        "best_threshold": best,
        "best_accuracy_multi": acc[best],
        "best_threshold_unlabelled": float((probs <= best).all(axis=1).mean()) if len(probs) else 0.0,
    }
