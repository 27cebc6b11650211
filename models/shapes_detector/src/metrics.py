"""Detection metrics in numpy: decoding the dense output (threshold + NMS per class, as the serving script
does) and mAP@0.5 (all-point interpolated AP per class, averaged over the classes)."""

from __future__ import annotations

import numpy as np


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


def decode(rows: np.ndarray, score_threshold: float = 0.05, iou_threshold: float = 0.45) -> list[tuple]:
    """One image's ``K × (4 + 1 + C)`` → ``[(label, score, box)]`` after NMS per label."""
    scores = rows[:, 4] * rows[:, 5:].max(axis=1)
    labels = rows[:, 5:].argmax(axis=1)
    found = []
    for c in np.unique(labels):
        idx = np.flatnonzero((labels == c) & (scores >= score_threshold))
        idx = idx[np.argsort(-scores[idx])]
        while len(idx):
            best, idx = idx[0], idx[1:]
            found.append((int(c), float(scores[best]), rows[best, :4].astype(np.float64)))
            idx = idx[iou(rows[best, :4], rows[idx, :4]) <= iou_threshold]
    return found


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def map_at(dense: np.ndarray, truth: dict[str, np.ndarray], classes: int, threshold: float = 0.5) -> dict[str, float]:
    """mAP at IoU ``threshold`` of the dense outputs of every test image against its true boxes, plus AP per
    class (``ap_<index>``)."""
    detections = [(i, *d) for i, rows in enumerate(dense) for d in decode(rows)]
    aps = {}
    for c in range(classes):
        gt = {i: truth["boxes"][(truth["box_image"] == i) & (truth["box_label"] == c)] for i in range(len(dense))}
        total = sum(len(b) for b in gt.values())
        used = {i: np.zeros(len(b), bool) for i, b in gt.items()}
        mine = sorted((d for d in detections if d[1] == c), key=lambda d: -d[2])
        tp = np.zeros(len(mine))
        for k, (image, _, _, box) in enumerate(mine):
            if len(gt[image]):
                overlaps = iou(box, gt[image])
                best = int(overlaps.argmax())
                if overlaps[best] >= threshold and not used[image][best]:
                    used[image][best], tp[k] = True, 1
        if total == 0:
            continue
        cum = np.cumsum(tp)
        aps[c] = average_precision(cum / total, cum / np.arange(1, len(mine) + 1)) if len(mine) else 0.0
    return {"map_50": float(np.mean(list(aps.values()))) if aps else 0.0,
            **{f"ap_{c}": v for c, v in aps.items()}}
