"""The detector: a small fully-convolutional network predicting, on an 8×8 grid over the 64×64 image, per cell
an objectness, the class and a box (centre offset within the cell, width and height relative to the image).

``Dense`` wraps it for export: its one output is ``N × 64 × (4 + 1 + C)``, each cell's box as normalised
corners, its objectness and class probabilities (what the factory's ONNX scoring script decodes).
"""

from __future__ import annotations

import numpy as np

GRID = 8


def build_net(classes: int):
    import torch.nn as nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64),
                         nn.MaxPool2d(2), *block(64, 64), nn.Conv2d(64, 5 + classes, 1))


def targets(boxes: np.ndarray, labels: np.ndarray, box_image: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per image and cell: objectness 0/1, class index, box targets (offset x, offset y, w, h in [0, 1])."""
    obj = np.zeros((n, GRID, GRID), np.float32)
    cls = np.zeros((n, GRID, GRID), np.int64)
    box = np.zeros((n, 4, GRID, GRID), np.float32)
    for (x0, y0, x1, y1), label, image in zip(boxes, labels, box_image, strict=True):
        cx, cy = (x0 + x1) / 2 * GRID, (y0 + y1) / 2 * GRID
        gx, gy = min(int(cx), GRID - 1), min(int(cy), GRID - 1)
        obj[image, gy, gx], cls[image, gy, gx] = 1.0, label
        box[image, :, gy, gx] = (cx - gx, cy - gy, x1 - x0, y1 - y0)
    return {"obj": obj, "cls": cls, "box": box}


def dense_module(net):
    """``net`` with the decoding to ``N × 64 × (4 + 1 + C)`` appended (the exported graph)."""
    import torch

    class Dense(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            ys, xs = torch.meshgrid(torch.arange(GRID), torch.arange(GRID), indexing="ij")
            self.register_buffer("gx", xs.float().reshape(1, 1, GRID, GRID))
            self.register_buffer("gy", ys.float().reshape(1, 1, GRID, GRID))

        def forward(self, image):
            raw = self.net(image)
            obj = torch.sigmoid(raw[:, 0:1])
            cls = torch.softmax(raw[:, 1:-4], dim=1)
            box = torch.sigmoid(raw[:, -4:])
            cx, cy = (self.gx + box[:, 0:1]) / GRID, (self.gy + box[:, 1:2]) / GRID
            w, h = box[:, 2:3], box[:, 3:4]
            out = torch.cat([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, obj, cls], dim=1)
            return out.flatten(2).transpose(1, 2)

    return Dense()


def loss(raw, t):
    """Objectness BCE over every cell; class cross-entropy and box L1 on the cells that hold an object."""
    import torch
    import torch.nn.functional as F

    obj_t = t["obj"]
    obj_loss = F.binary_cross_entropy_with_logits(raw[:, 0], obj_t, pos_weight=torch.tensor(4.0))
    positive = obj_t > 0
    if not positive.any():
        return obj_loss
    cls_logits = raw[:, 1:-4].permute(0, 2, 3, 1)[positive]
    cls_loss = F.cross_entropy(cls_logits, t["cls"][positive])
    box_pred = torch.sigmoid(raw[:, -4:]).permute(0, 2, 3, 1)[positive]
    box_loss = F.l1_loss(box_pred, t["box"].permute(0, 2, 3, 1)[positive]) * 5
    return obj_loss + cls_loss + box_loss
