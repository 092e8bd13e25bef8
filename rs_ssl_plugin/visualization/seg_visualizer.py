"""mmseg's segmentation visualizer with class labels that stay readable (tools/test.py --show/--show-dir)."""
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from mmseg.registry import VISUALIZERS
from mmseg.visualization import SegLocalVisualizer

BLACK, WHITE = (0, 0, 0), (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def relative_luminance(rgb: Sequence[int]) -> float:
    """The WCAG 2 relative luminance of an sRGB colour: 0 for black, 1 for white."""
    channels = np.asarray(rgb, np.float64) / 255
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(first: Sequence[int], second: Sequence[int]) -> float:
    """The WCAG 2 contrast ratio of two sRGB colours, from 1 (equal) to 21 (black and white); text reads well
    from 4.5."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: Sequence[int]) -> Tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``background`` (at least 4.58 for any colour)."""
    return BLACK if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background) else WHITE


Box = Tuple[int, int, int, int]  # x, y of the top-left corner, width, height


def overlap(first: Box, second: Box) -> bool:
    """Whether two boxes share a pixel."""
    return (first[0] < second[0] + second[2] and second[0] < first[0] + first[2]
            and first[1] < second[1] + second[3] and second[1] < first[1] + first[3])


def place_box(anchor: Sequence[int], width: int, height: int, image_shape: Sequence[int],
              taken: Sequence[Box]) -> Box:
    """A ``width`` x ``height`` box at ``anchor`` (x, y), moved as little as needed into the image, then down
    past the ``taken`` boxes it overlaps while it fits (keeping it inside can push it onto a neighbour)."""
    x = int(np.clip(anchor[0], 0, max(image_shape[1] - width, 0)))
    y = int(np.clip(anchor[1], 0, max(image_shape[0] - height, 0)))
    box = (x, y, width, height)
    for _ in taken:
        below = [other[1] + other[3] for other in taken if overlap(box, other)]
        if not below or max(below) + height > image_shape[0]:
            break
        box = (x, max(below), width, height)
    return box


def draw_label(image: np.ndarray, text: str, colour: Sequence[int], anchor: Sequence[int], font_scale: float,
               thickness: int, taken: List[Box]) -> None:
    """Draw ``text`` into ``image`` (RGB, in place) in a box filled with ``colour`` placed by
    :func:`place_box` at ``anchor`` (x, y) clear of the ``taken`` labels, and add the box to them; the font
    shrinks for images narrower than the box. Text and outline are black or white, whichever contrasts more
    with ``colour``, so the box stands out also on a region of its own colour."""
    pad = thickness + 1
    (width, height), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    room = image.shape[1] - 2 * pad
    while width > room and font_scale > 0.1:  # the width is not quite proportional to the font scale
        font_scale *= room / (width + 1)
        (width, height), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    x, y, box_width, box_height = place_box(anchor, width + 2 * pad, height + baseline + 2 * pad, image.shape,
                                            taken)
    taken.append((x, y, box_width, box_height))
    ink = text_colour_on(colour)
    corner = (x + box_width - 1, y + box_height - 1)
    cv2.rectangle(image, (x, y), corner, tuple(int(c) for c in colour), -1)
    cv2.rectangle(image, (x, y), corner, ink, 1)
    cv2.putText(image, text, (x + pad, y + pad + height), FONT, font_scale, ink, thickness, cv2.LINE_AA)


@VISUALIZERS.register_module()
class ReadableSegLocalVisualizer(SegLocalVisualizer):
    """mmseg's ``SegLocalVisualizer`` whose class labels stay readable on any palette and at the image's edge.

    mmseg writes every class name in white at the middle of the class's widest row and blends the label with
    the image: white on white for Potsdam's ``impervious_surface``, and cut off where that spot lies near the
    right or bottom edge. Here the labels are drawn after the blending, opaque, in black or white by the class
    colour's luminance (:func:`draw_label`), and each box is moved into the image and off the labels drawn
    before it. Everything else is mmseg's.

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): The RGB image to draw on first. Defaults to None.
        vis_backends (list, optional): Configs of the visual backends. Defaults to None.
        save_dir (str, optional): Folder of the backends' files; None saves nothing. Defaults to None.
        classes (list, optional): Class names of the label indices; None takes those of ``dataset_name``.
            Defaults to None.
        palette (list, optional): RGB colour of each class; None takes that of ``dataset_name``.
            Defaults to None.
        dataset_name (str, optional): mmseg dataset whose classes and palette fill in those not given
            (Cityscapes when None). Defaults to None.
        alpha (float): Opacity of the class colours over the image. Defaults to 0.8.
        **kwargs: Other arguments of mmengine's ``Visualizer`` (e.g. ``fig_save_cfg``).
    """

    def _draw_sem_seg(self, image, sem_seg, classes, palette, with_labels=True) -> np.ndarray:
        drawn = super()._draw_sem_seg(image, sem_seg, classes, palette, with_labels=False)
        if not with_labels:
            return drawn
        labels = np.asarray(sem_seg.cpu().data)[0]
        font_scale = max(0.4, min(image.shape[:2]) / 500)  # mmseg's size, readable on small images too
        thickness = 1 if min(image.shape[:2]) < 300 else 2
        taken = []
        for label in np.unique(labels)[::-1]:
            if label < len(classes):
                anchor = self._get_center_loc((labels == label).astype(np.uint8))  # mmseg's spot
                draw_label(drawn, classes[label], palette[label], anchor, font_scale, thickness, taken)
        self.set_image(drawn)
        return drawn
