"""The pixel confusion matrix behind the per-class and the Hungarian-matched segmentation metrics."""
from typing import Optional

import torch


def confusion_matrix(label: torch.Tensor, pred: torch.Tensor, num_classes: int, num_predicted: Optional[int] = None,
                     ignore_index: int = 255) -> torch.Tensor:
    """``hist[c, k]``: pixels of class ``c`` (rows, ground truth) predicted as ``k`` (columns).

    ``num_predicted`` is the number of predicted ids (clusters; default ``num_classes``). Pixels labelled
    ``ignore_index`` or outside ``[0, num_classes)`` are not counted; a prediction outside
    ``[0, num_predicted)`` raises ``ValueError``.
    """
    num_predicted = num_predicted or num_classes
    label, pred = label.flatten().long(), pred.flatten().long()
    valid = (label != ignore_index) & (label >= 0) & (label < num_classes)
    if pred[valid].numel() and (pred[valid].min() < 0 or pred[valid].max() >= num_predicted):
        raise ValueError(f'predicted class or cluster ids must lie in [0, {num_predicted}), found '
                         f'[{int(pred[valid].min())}, {int(pred[valid].max())}]')
    counts = torch.bincount(label[valid] * num_predicted + pred[valid], minlength=num_classes * num_predicted)
    return counts.reshape(num_classes, num_predicted)
