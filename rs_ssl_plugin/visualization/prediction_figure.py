"""Colour class maps, and the image | ground truth | prediction figure of segmentation results with the class
legend and a title (tools/test.py --out-dir, and so the demo)."""
from typing import Sequence, Tuple

import numpy as np

from .legend import fit_for_display, panel_figure, save_figure

IGNORED_COLOUR = (0, 0, 0)
# one figure row: its name, the RGB image, the true and the predicted class indices (0 .. classes - 1; any
# other value in the truth is an ignored pixel)
PredictionRow = Tuple[str, np.ndarray, np.ndarray, np.ndarray]


def colour_class_map(labels: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB colouring of the class indices ``labels`` with ``palette`` (one RGB colour per
    class); values outside the classes (ignored pixels, e.g. 255) are ``IGNORED_COLOUR``."""
    palette = np.asarray(palette, np.uint8)
    labels = np.asarray(labels)
    colours = np.zeros(labels.shape + (3, ), np.uint8)
    valid = (labels >= 0) & (labels < len(palette))
    colours[valid] = palette[labels[valid]]
    return colours


def prediction_figure(rows: Sequence[PredictionRow], classes: Sequence[str], palette: Sequence[Sequence[int]],
                      title: str):
    """A titled figure with one row per :data:`PredictionRow` (named at its left) and the columns image |
    ground truth | prediction, the class legend below (with the ignored pixels' colour where a truth has
    some). Panels are shrunk to at most 1024 pixels a side. Returns the matplotlib figure."""
    palette = [tuple(int(c) for c in colour) for colour in palette[:len(classes)]]
    panels, names, any_ignored = [], [], False
    for name, image, truth, prediction in rows:
        any_ignored |= bool(((truth < 0) | (truth >= len(classes))).any())
        panels.append([fit_for_display(image)] + [fit_for_display(colour_class_map(labels, palette), nearest=True)
                                                  for labels in (truth, prediction)])
        names.append(name)
    legend_names, legend_colours = list(classes), list(palette)
    if any_ignored:
        legend_names.append('ignored')
        legend_colours.append(IGNORED_COLOUR)
    return panel_figure(panels, ['image', 'ground truth', 'prediction'], (legend_names, legend_colours), 'classes',
                        row_titles=names, title=title)


def write_prediction_figure(path: str, rows: Sequence[PredictionRow], classes: Sequence[str],
                            palette: Sequence[Sequence[int]], title: str) -> None:
    """Write :func:`prediction_figure` to ``path`` (PNG)."""
    save_figure(prediction_figure(rows, classes, palette, title), path)
