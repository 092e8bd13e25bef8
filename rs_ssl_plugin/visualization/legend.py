"""Legends and titled panel figures for the pictures the tools write (class and cluster maps, feature maps)."""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

Legend = Tuple[Sequence[str], Sequence[Sequence[int]]]  # names and their RGB colours


def legend_image(names: Sequence[str], colours: Sequence[Sequence[int]], title: Optional[str] = None,
                 swatch: int = 22, font_scale: float = 0.55) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 RGB legend: one row per entry, a ``swatch`` x ``swatch`` square of its colour
    (grey outline) and its name, under an optional title; white background."""
    if len(names) != len(colours):
        raise ValueError(f'a legend needs one colour per name, got {len(names)} names and {len(colours)} colours')
    font, thickness, pad = cv2.FONT_HERSHEY_SIMPLEX, 1, 8
    lines = ([title] if title else []) + list(names)
    text_width = max(cv2.getTextSize(line, font, font_scale, thickness)[0][0] for line in lines)
    row = swatch + pad
    top = row if title else 0
    image = np.full((pad + top + row * len(names), 3 * pad + swatch + text_width, 3), 255, np.uint8)
    if title:
        cv2.putText(image, title, (pad, pad + swatch - 6), font, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    for i, (name, colour) in enumerate(zip(names, colours)):
        y = pad + top + i * row
        cv2.rectangle(image, (pad, y), (pad + swatch - 1, y + swatch - 1), tuple(int(c) for c in colour), -1)
        cv2.rectangle(image, (pad, y), (pad + swatch - 1, y + swatch - 1), (128, 128, 128), 1)
        cv2.putText(image, str(name), (2 * pad + swatch, y + swatch - 6), font, font_scale, (0, 0, 0), thickness,
                    cv2.LINE_AA)
    return image


def write_legend(path: str, names: Sequence[str], colours: Sequence[Sequence[int]],
                 title: Optional[str] = None) -> None:
    """Write :func:`legend_image` to ``path`` (PNG); raises ``OSError`` naming the path if that fails."""
    if not cv2.imwrite(path, legend_image(names, colours, title)[..., ::-1]):
        raise OSError(f'could not write the legend {path}')


def fit_for_display(image: np.ndarray, max_side: int = 1024, nearest: bool = False) -> np.ndarray:
    """``image`` shrunk (area, or nearest for label colourings) so its longer side is at most ``max_side``."""
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def panel_figure(rows: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str],
                 legend: Optional[Legend] = None, legend_title: Optional[str] = None,
                 row_titles: Optional[Sequence[str]] = None, title: Optional[str] = None, panel_inches: float = 3.0):
    """A matplotlib figure: a grid of RGB panels with a title over each column (and optionally each row),
    and a legend (names with colour patches) below. Returns the figure (``save_figure`` writes it)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    num_rows, num_cols = len(rows), len(column_titles)
    legend_rows = 0 if legend is None else -(-len(legend[0]) // min(num_cols * 2, 6))
    figure, axes = plt.subplots(num_rows, num_cols, squeeze=False,
                                figsize=(panel_inches * num_cols, panel_inches * num_rows + 0.35 * legend_rows + 0.5))
    for r, row in enumerate(rows):
        if len(row) != num_cols:
            raise ValueError(f'row {r} has {len(row)} panels for {num_cols} column titles')
        for c, panel in enumerate(row):
            axes[r, c].imshow(panel, interpolation='nearest')
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(column_titles[c], fontsize=10)
        if row_titles:
            axes[r, 0].set_ylabel(row_titles[r], fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    bottom = 0.0
    if legend is not None:
        names, colours = legend
        handles = [Patch(facecolor=np.asarray(colour) / 255.0, edgecolor='grey', label=str(name))
                   for name, colour in zip(names, colours)]
        figure.legend(handles=handles, loc='lower center', ncol=min(num_cols * 2, 6, len(handles)), fontsize=8,
                      title=legend_title, frameon=False)
        bottom = min(0.45, (0.35 * legend_rows + 0.4) / figure.get_figheight())
    figure.tight_layout(rect=(0, bottom, 1, 0.95 if title else 1))
    return figure


def save_figure(figure, path: str, dpi: int = 110) -> None:
    """Write a matplotlib figure to ``path`` and close it."""
    import matplotlib.pyplot as plt
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
