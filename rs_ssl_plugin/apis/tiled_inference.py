"""Sliding-window inference of an mmseg segmentor over scenes larger than one forward pass can take.

The window grid is mmseg's ``EncoderDecoder.slide_inference`` grid, so with ``blend='uniform'`` the result
equals stock slide inference (the mean of the overlapping window logits). What differs is how it runs:

- windows go through ``model.encode_decode`` in batches, optionally under bf16/fp16 autocast and in
  channels_last layout;
- logits are accumulated in float32 on the model's device, in a row band: windows are visited row by row
  and rows no later window touches are emitted (normalised) and dropped. The band holds at most
  ``max over batches of (bottom of its last window - top of its first window)`` rows, i.e. about
  ``crop + stride * ceil(batch_size / windows_per_row)`` rows of the scene width, whatever the scene height;
- the input is read per batch (a strip just covering the batch's windows) by a background thread, so
  reading the next strip overlaps the forward pass of the current one; on CUDA the strip is copied from
  pinned memory asynchronously;
- ``'cosine'`` and ``'ramp'`` blending weight each window's logits by a separable window that falls off
  towards its borders, where a network sees the least context, so seams between windows disappear;
- no-data pixels (NaN in any band, or the scene's ``nodata`` value in every band) enter the network as the
  data preprocessor's mean (0 after normalisation), so they cannot spread NaN or extreme values to their
  neighbours, and come out as NaN logits and the coding's no-data class code.
"""
import inspect
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Protocol, Tuple

import numpy as np
import torch
from mmseg.registry import DATASETS
from torch import Tensor, nn

from ..datasets.checks import ValueRange, no_data_mask, to_pipeline_values
from ..utils.windows import IntPair, Window, slide_windows

BLEND_MODES = ('uniform', 'cosine', 'ramp')
AMP_DTYPES = {'none': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}


class Scene(Protocol):
    """What the inference reads from: a ``count``-band raster of ``height x width`` pixels; ``nodata`` is the
    value that marks pixels without data (in every band), ``None`` when only NaN does. A scene may also have
    ``alpha_index``, the 0-based band that is an alpha mask (0: no data), which is not fed to the model."""
    height: int
    width: int
    count: int
    nodata: Optional[float]

    def read(self, top: int, bottom: int, left: int, right: int) -> np.ndarray:
        """Pixels of rows ``top:bottom`` and columns ``left:right`` as a ``(count, rows, cols)`` array."""


def _profile(length: int, mode: str) -> Tensor:
    """1-D blending profile over ``length`` pixel centres, positive everywhere, largest in the middle."""
    centres = torch.arange(length, dtype=torch.float64) + 0.5
    if mode == 'uniform':
        return torch.ones(length, dtype=torch.float64)
    if mode == 'ramp':  # triangle: distance to the nearer border, 1/length at the border pixels
        return torch.minimum(centres, length - centres) / (length / 2)
    if mode == 'cosine':  # Hann window sampled at pixel centres, so no pixel gets weight 0
        return 0.5 - 0.5 * torch.cos(2 * torch.pi * centres / length)
    raise ValueError(f'blend must be one of {BLEND_MODES}, got {mode!r}')


def blend_weights(height: int, width: int, mode: str) -> Tensor:
    """Separable ``height x width`` float32 weights of one window (all ones for ``'uniform'``)."""
    return torch.outer(_profile(height, mode), _profile(width, mode)).float()


def _input_transform(model: nn.Module, bands: int) -> Tuple[Optional[Tensor], Optional[Tensor], bool]:
    """``(mean, std, reverse_bands)`` turning file-order bands into what the model saw in mmseg.

    mmseg loads 3-band images with OpenCV as BGR and its data preprocessor reverses them when
    ``bgr_to_rgb``/``rgb_to_bgr`` is set, so the network sees RGB then and BGR otherwise. Scenes are read in
    file band order (RGB for RGB files), so the bands are reversed exactly when the preprocessor would not.
    Other band counts are passed in file order, as mmseg does.
    """
    preprocessor = model.data_preprocessor
    reverse = bands == 3 and not getattr(preprocessor, 'channel_conversion', False)
    if not getattr(preprocessor, '_enable_normalize', False):
        return None, None, reverse
    mean, std = preprocessor.mean, preprocessor.std
    if mean.numel() != bands:
        raise ValueError(f'the scene has {bands} band(s) but the model\'s data_preprocessor normalises '
                         f'{mean.numel()} channel(s)')
    return mean.float(), std.float(), reverse


def _batches(windows: List[Window], batch_size: int) -> List[List[Window]]:
    if batch_size < 1:
        raise ValueError(f'batch_size must be positive, got {batch_size}')
    return [windows[i:i + batch_size] for i in range(0, len(windows), batch_size)]


def _strip_bounds(batch: List[Window]) -> Window:
    """Rows and columns of the smallest strip holding every window of a row-major ``batch``."""
    return batch[0][0], batch[-1][1], min(w[2] for w in batch), max(w[3] for w in batch)


@torch.inference_mode()
def iter_blended_logits(model: nn.Module,
                        scene: Scene,
                        crop_size: IntPair,
                        stride: IntPair,
                        batch_size: int = 8,
                        blend: str = 'uniform',
                        amp: str = 'none',
                        channels_last: bool = False,
                        progress: Optional[Callable[[int], None]] = None,
                        value_range: Optional[ValueRange] = None,
                        color_type: str = 'color') -> Iterator[Tuple[int, Tensor]]:
    """Yield ``(top, logits)`` for consecutive row bands of the scene, top to bottom.

    ``logits`` is a float32 ``(out_channels, rows, scene.width)`` tensor on the model's device holding the weighted
    mean of the logits of all windows covering those rows (before softmax, like the ``slide_inference`` output of
    mmseg); it is NaN at pixels without data (:func:`no_data_mask` with the scene's ``nodata``, and 0 in its alpha
    band), which enter the network as the preprocessor's mean. ``progress`` is called with the number of windows
    of each finished batch.
    The model must be an mmseg segmentor with ``encode_decode`` in eval mode. ``value_range`` and ``color_type`` are
    those of the image loader the model was trained with (:func:`~rs_ssl_plugin.apis.scene_io.image_loading`):
    pixels get the values the loader would have given (:func:`~rs_ssl_plugin.datasets.checks.to_pipeline_values`),
    so a 16-bit scene needs the loader's ``value_range`` or ``color_type='unchanged'``.
    """
    if blend not in BLEND_MODES:
        raise ValueError(f'blend must be one of {BLEND_MODES}, got {blend!r}')
    if amp not in AMP_DTYPES:
        raise ValueError(f'amp must be one of {tuple(AMP_DTYPES)}, got {amp!r}')
    device = next(model.parameters()).device
    alpha = getattr(scene, 'alpha_index', None)
    mean, std, reverse = _input_transform(model, scene.count - (alpha is not None))
    if mean is not None:
        mean, std = mean.to(device), std.to(device)
    windows = slide_windows(scene.height, scene.width, crop_size, stride)
    win_h, win_w = windows[0][1] - windows[0][0], windows[0][3] - windows[0][2]
    batches = _batches(windows, batch_size)
    band_rows = max(batch[-1][1] - batch[0][0] for batch in batches)
    logit_sum = torch.zeros(model.out_channels, band_rows, scene.width, device=device)
    weight_sum = torch.zeros(band_rows, scene.width, device=device)
    weights = blend_weights(win_h, win_w, blend).to(device)
    img_metas = [dict(img_shape=(win_h, win_w), pad_shape=(win_h, win_w), ori_shape=(win_h, win_w))] * batch_size
    autocast = (torch.autocast(device.type, dtype=AMP_DTYPES[amp]) if AMP_DTYPES[amp] is not None
                else nullcontext())

    def read_strip(batch: List[Window]) -> Tuple[Tensor, Optional[Tensor]]:
        """The batch's pixels in pipeline values and their no-data mask (``None`` when every pixel has data)."""
        top, bottom, left, right = _strip_bounds(batch)
        strip = scene.read(top, bottom, left, right)
        if alpha is not None:
            transparent = strip[alpha] == 0
            strip = np.delete(strip, alpha, axis=0)
        missing = no_data_mask(strip, nodata)
        if alpha is not None:
            missing |= transparent
        if missing.any():  # any finite stand-in will do: these pixels are set to the mean after normalising
            strip = np.where(missing, np.zeros((), strip.dtype), strip)
        strip = np.ascontiguousarray(strip)
        strip = to_pipeline_values(strip, scene_name, value_range, color_type == 'unchanged', band_axis=0)
        if strip.dtype != np.uint8:  # torch lacks arithmetic on uint16/uint32 tensors
            strip = strip.astype(np.float32)
        strip = torch.from_numpy(strip)
        mask = torch.from_numpy(missing) if missing.any() else None
        if device.type == 'cuda':
            return strip.pin_memory(), None if mask is None else mask.pin_memory()
        return strip, mask

    scene_name = getattr(scene, 'path', 'the scene')
    nodata = getattr(scene, 'nodata', None)
    no_data = torch.zeros(band_rows, scene.width, dtype=torch.bool, device=device)
    band_top = 0  # scene row held in row 0 of the band
    with ThreadPoolExecutor(max_workers=1) as reader:
        next_strip = reader.submit(read_strip, batches[0])
        for index, batch in enumerate(batches):
            strip, strip_mask = next_strip.result()
            strip = strip.to(device, non_blocking=True)
            if index + 1 < len(batches):
                next_strip = reader.submit(read_strip, batches[index + 1])
            strip_top, strip_bottom, strip_left, strip_right = _strip_bounds(batch)
            crops = torch.stack([strip[:, y1 - strip_top:y2 - strip_top, x1 - strip_left:x2 - strip_left]
                                 for y1, y2, x1, x2 in batch])
            if reverse:
                crops = crops.flip(1)
            inputs = crops.float()
            if mean is not None:
                inputs = (inputs - mean) / std
            if strip_mask is not None:
                strip_mask = strip_mask.to(device, non_blocking=True)
                no_data[strip_top - band_top:strip_bottom - band_top, strip_left:strip_right] |= strip_mask
                window_masks = torch.stack([strip_mask[y1 - strip_top:y2 - strip_top, x1 - strip_left:x2 - strip_left]
                                            for y1, y2, x1, x2 in batch])
                inputs = inputs.masked_fill(window_masks[:, None], 0.0)  # the mean of the normalised input
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits = model.encode_decode(inputs, img_metas[:len(batch)])
            logits = logits.float()
            if blend != 'uniform':
                logits = logits * weights
            for (y1, y2, x1, x2), window_logits in zip(batch, logits):
                logit_sum[:, y1 - band_top:y2 - band_top, x1:x2] += window_logits
                weight_sum[y1 - band_top:y2 - band_top, x1:x2] += weights
            if progress is not None:
                progress(len(batch))

            # Rows above the next window's top are final: no later window reaches them.
            finished_to = batches[index + 1][0][0] if index + 1 < len(batches) else scene.height
            done = finished_to - band_top
            if done > 0:
                yield band_top, (logit_sum[:, :done] / weight_sum[:done]).masked_fill(no_data[:done], float('nan'))
                kept = band_rows - done
                logit_sum[:, :kept] = logit_sum[:, done:].clone()
                logit_sum[:, kept:] = 0
                weight_sum[:kept] = weight_sum[done:].clone()
                weight_sum[kept:] = 0
                no_data[:kept] = no_data[done:].clone()
                no_data[kept:] = False
                band_top = finished_to


def logits_to_classes(logits: Tensor, model: nn.Module) -> Tensor:
    """Class ids from ``(C, ...)`` logits as mmseg predicts them: argmax, or for a single output channel
    ``sigmoid(logit) > decode_head.threshold``."""
    if logits.shape[0] == 1:
        return (logits[0].sigmoid() > model.decode_head.threshold).to(torch.uint8)
    return logits.argmax(0)


@dataclass(frozen=True)
class ClassCoding:
    """How class indices are written: ``index + offset``, ``nodata`` for pixels without data, in ``dtype``."""
    offset: int
    nodata: int
    dtype: str

    def codes(self, num_classes: int) -> range:
        """The codes of class indices ``0..num_classes-1``."""
        return range(self.offset, self.offset + num_classes)


def uses_reduce_zero_label(model: nn.Module) -> bool:
    """Whether the model's dataset reads its label files with ``reduce_zero_label``: the checkpoint's
    ``dataset_meta`` (mmseg's datasets record it there), else the config's test dataset, else that dataset
    class's default (``CheckedPotsdamDataset``: True)."""
    meta = getattr(model, 'dataset_meta', None) or {}
    if 'reduce_zero_label' in meta:
        return bool(meta['reduce_zero_label'])
    dataset = ((getattr(model, 'cfg', None) or {}).get('test_dataloader') or {}).get('dataset') or {}
    if 'reduce_zero_label' in dataset:
        return bool(dataset['reduce_zero_label'])
    dataset_class = DATASETS.get(dataset['type']) if 'type' in dataset else None
    if dataset_class is None:
        return False
    default = inspect.signature(dataset_class).parameters.get('reduce_zero_label')
    return bool(default is not None and default.default is True)


def label_coding(model: nn.Module) -> ClassCoding:
    """The coding of the model's label files, which ``tools/test.py --out`` and mmseg's ``IoUMetric`` also
    write: with ``reduce_zero_label`` class ``i`` is ``i + 1`` and 0 (the labels' ignored value) marks no
    data; otherwise class ``i`` is ``i`` and no data is 255 (mmseg's ignore index), 65535 for more than 255
    classes."""
    num_classes = max(model.out_channels, 2)  # one output channel = binary: classes 0 and 1
    if uses_reduce_zero_label(model):
        return ClassCoding(offset=1, nodata=0, dtype='uint8' if num_classes <= 255 else 'uint16')
    if num_classes <= 255:
        return ClassCoding(offset=0, nodata=255, dtype='uint8')
    return ClassCoding(offset=0, nodata=65535, dtype='uint16')


def iter_class_rows(model: nn.Module, scene: Scene, crop_size: IntPair, stride: IntPair,
                    coding: Optional[ClassCoding] = None, **options) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield ``(top, classes)`` row bands of the predicted class map: ``classes`` is a host ``(rows, width)``
    array of class codes in ``coding`` (default :func:`label_coding`: the model's label files), with the
    coding's ``nodata`` where the scene has no data. The argmax runs on the model's device, so only class
    codes cross to the host. ``options`` are those of :func:`iter_blended_logits`."""
    coding = coding or label_coding(model)
    for top, logits in iter_blended_logits(model, scene, crop_size, stride, **options):
        codes = logits_to_classes(logits, model).to(torch.int32) + coding.offset
        codes = codes.masked_fill(logits[0].isnan(), coding.nodata)
        if coding.dtype == 'uint8':  # cast on the device: a quarter of the bytes cross to the host
            codes = codes.to(torch.uint8)
        yield top, codes.cpu().numpy().astype(coding.dtype, copy=False)
