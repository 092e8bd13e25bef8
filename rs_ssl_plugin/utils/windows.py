"""The window grid of sliding-window inference: mmseg's ``EncoderDecoder.slide_inference`` windows over an
image, shared by the tiled inference of large scenes and IDDC's sliding-window prediction."""
from typing import List, Sequence, Tuple, Union

Window = Tuple[int, int, int, int]  # y1, y2, x1, x2 (end exclusive)
IntPair = Union[int, Sequence[int]]


def as_pair(value: IntPair, name: str) -> Tuple[int, int]:
    """``(height, width)`` from an int, a one-element sequence (square) or a ``(height, width)`` pair of
    positive ints; ``ValueError`` naming ``name`` otherwise."""
    values = (value, ) if isinstance(value, int) else tuple(int(v) for v in value)
    pair = values * 2 if len(values) == 1 else values
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f'{name} must be a positive int or a (height, width) pair, got {value!r}')
    return pair


def slide_windows(height: int, width: int, crop_size: IntPair, stride: IntPair) -> List[Window]:
    """The windows of mmseg's slide inference over a ``height x width`` image, row by row.

    Windows start every ``stride`` pixels; there are ``max(size - crop + stride - 1, 0) // stride + 1`` per
    axis and the last one is shifted back to end at the image border. Along an axis shorter than the crop
    the window is the whole axis (nothing is padded).
    """
    (h_crop, w_crop), (h_stride, w_stride) = as_pair(crop_size, 'crop_size'), as_pair(stride, 'stride')
    if h_stride > h_crop or w_stride > w_crop:
        raise ValueError(f'stride {(h_stride, w_stride)} larger than crop_size {(h_crop, w_crop)} would leave '
                         'pixels no window covers')
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    windows = []
    for h_idx in range(h_grids):
        y2 = min(h_idx * h_stride + h_crop, height)
        for w_idx in range(w_grids):
            x2 = min(w_idx * w_stride + w_crop, width)
            windows.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return windows
