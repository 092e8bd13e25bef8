"""Batched photometric augmentations: the device stage of the input pipeline (docs/input_pipeline.md).

Pure functions on float tensors ``(N, C, H, W)`` holding integer pixel values (uint8 images cast to float),
RGB order for the colour operations, with per-sample parameters as tensors: no per-sample Python loop and no
host synchronisation, so a whole batch is augmented on the accelerator in a fixed number of kernels.

For fixed parameters every operation reproduces, within one uint8 level, the per-image CPU transform of the
same name (tests/models/test_batch_augment.py):

- colour jitter: PIL's ``ImageEnhance`` (``Brightness``, ``Contrast``, ``Color``) and PIL's HSV hue shift,
  which is what mmpretrain's ``ColorJitter`` (through mmcv's ``adjust_*`` with the pillow backend) and
  torchvision's ``ColorJitter`` on PIL images both run; each operation rounds to uint8 as PIL does;
- grayscale: mmcv's ``RandomGrayscale`` (normalised channel weights, truncation) or PIL's ``'L'``
  conversion (0.299/0.587/0.114 in 16-bit fixed point, rounded) for torchvision;
- Gaussian blur: PIL's ``GaussianBlur`` (three extended box filters per axis, edge replicated, uint8 after
  every pass; mmpretrain), torchvision's 9-tap Gaussian (reflect padding, one rounding) or OpenCV's
  ``GaussianBlur`` (kernel ``round(6 sigma + 1) | 1``, reflect-101; the band-agnostic blur);
- solarisation (``x >= threshold -> 255 - x``) and the band-agnostic jitter of ``RandomBandJitter``.

The random parameters are drawn per view on the CPU (:class:`~rs_ssl_plugin.datasets.transforms.PhotometricAugment`,
``SDSHMultiCrop(on_device=True)``) and travel as one ``(V, P)`` float32 array per image whose columns are
named by :data:`COLOR_PARAMS` / :data:`BAND_PARAMS`; the static choices travel as a :class:`PhotometricRecipe`.
"""
import math
from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# colour-jitter operations, in the index order of mmpretrain's and torchvision's ColorJitter
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)

# columns of the per-view parameters of a colour recipe; factors are 1, flags 0 when an operation is off
COLOR_PARAMS = (
    'order_0', 'order_1', 'order_2', 'order_3',  # the jitter operation (BRIGHTNESS..HUE) at each position
    'brightness', 'contrast', 'saturation',  # enhancement factors
    'hue', 'hue_shift',  # 1 if the hue step runs; its shift in uint8 hue units (int(h * 255) mod 256)
    'grayscale',  # 1: replace by the grey image
    'blur', 'sigma',  # 1: blur with this standard deviation
    'solarize',  # 1: solarise
)
# columns of a band recipe, followed by one gain per band
BAND_PARAMS = ('jitter', 'brightness', 'contrast', 'blur', 'sigma')
NEUTRAL_COLOR_PARAMS = np.array([BRIGHTNESS, CONTRAST, SATURATION, HUE, 1, 1, 1, 0, 0, 0, 0, 0, 0], np.float32)

BLUR_KINDS = ('pil', 'torchvision', 'opencv')
GRAY_KINDS = ('mmcv', 'pil')


@dataclass(frozen=True)
class PhotometricRecipe:
    """The static part of the device stage, written by the CPU stage next to the per-view parameters.

    Args:
        kind: ``'color'`` (RGB, :data:`COLOR_PARAMS`) or ``'bands'`` (any band count, :data:`BAND_PARAMS`).
        gray: ``'mmcv'`` (``gray_weights`` in R, G, B order, summed in B, G, R order in float64 and
            truncated, as mmcv's ``RandomGrayscale``) or ``'pil'`` (PIL's ``'L'``).
        gray_weights: normalised R, G, B weights for ``gray='mmcv'``.
        blur: ``'pil'``, ``'torchvision'`` or ``'opencv'`` (see the module docstring).
        blur_taps: kernel length, enough for the largest sigma the CPU stage draws.
        solarize_threshold: pixels ``>=`` it are inverted.
        steps: the operations the CPU stage may switch on (``'jitter'``, ``'grayscale'``, ``'blur'``,
            ``'solarize'``; for bands ``'jitter'``, ``'blur'``); the device skips the others altogether.
    """
    kind: str = 'color'
    gray: str = 'mmcv'
    gray_weights: Tuple[float, float, float] = (0.2989 / 0.9999, 0.587 / 0.9999, 0.114 / 0.9999)
    blur: str = 'pil'
    blur_taps: int = 5
    solarize_threshold: float = 128.0
    steps: Tuple[str, ...] = ('jitter', 'grayscale', 'blur', 'solarize')

    def __post_init__(self):
        if self.kind not in ('color', 'bands'):
            raise ValueError(f"PhotometricRecipe.kind must be 'color' or 'bands', got {self.kind!r}")
        if self.gray not in GRAY_KINDS or self.blur not in BLUR_KINDS:
            raise ValueError(f'PhotometricRecipe: gray must be one of {GRAY_KINDS} and blur one of {BLUR_KINDS}, '
                             f'got {self.gray!r} and {self.blur!r}')
        if self.blur_taps < 1 or self.blur_taps % 2 == 0:
            raise ValueError(f'PhotometricRecipe.blur_taps must be odd and positive, got {self.blur_taps}')
        known = ('jitter', 'grayscale', 'blur', 'solarize') if self.kind == 'color' else ('jitter', 'blur')
        if not set(self.steps) <= set(known):
            raise ValueError(f'PhotometricRecipe.steps must be among {known} for kind={self.kind!r}, got {self.steps}')


def split_params(params: torch.Tensor, names: Tuple[str, ...]) -> Dict[str, torch.Tensor]:
    """``(N, P)`` parameters as a dict of ``(N,)`` columns named ``names``; columns past them (band gains)
    are returned as ``'gains'`` ``(N, P - len(names))``."""
    columns = dict(zip(names, params.unbind(1)))
    if params.shape[1] > len(names):
        columns['gains'] = params[:, len(names):]
    return columns


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def luma(img: torch.Tensor) -> torch.Tensor:
    """PIL's ``'L'`` conversion of RGB ``(N, 3, H, W)``: ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``, exact in
    float32 (every partial sum is an integer below 2^24). Returns ``(N, 1, H, W)``."""
    weights = img.new_tensor([19595., 38470., 7471.]).view(1, 3, 1, 1)
    return torch.floor(((img * weights).sum(1, keepdim=True) + 32768.) * (1. / 65536.))


def blend(degenerate: torch.Tensor, img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ``Image.blend(degenerate, img, factor)`` as ``ImageEnhance`` calls it:
    ``floor(d + f (x - d))`` clipped to 0..255, with PIL's float32 arithmetic. ``factor`` is ``(N,)``."""
    return torch.floor(degenerate + _per_sample(factor) * (img - degenerate)).clamp_(0, 255)


def mean_level(grey: torch.Tensor) -> torch.Tensor:
    """``int(mean + 0.5)`` of each ``'L'`` image ``(N, 1, H, W)`` (float64 mean), the grey level PIL's
    ``ImageEnhance.Contrast`` blends with; ``(N, 1, 1, 1)``."""
    total = grey.sum(dim=(1, 2, 3), dtype=torch.float64)
    return torch.floor(total / (grey.shape[-1] * grey.shape[-2]) + 0.5).to(grey.dtype).view(-1, 1, 1, 1)


def adjust_brightness(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Brightness(img).enhance(factor)`` per sample: blend with black."""
    return blend(torch.zeros_like(img[:, :1]), img, factor)


def adjust_contrast(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Contrast(img).enhance(factor)`` per sample: blend with the image's mean grey level."""
    return blend(mean_level(luma(img)), img, factor)


def adjust_saturation(img: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``ImageEnhance.Color(img).enhance(factor)`` per sample: blend with the ``'L'`` image."""
    return blend(luma(img), img, factor)


_HSV_TABLES: Dict[torch.device, Tuple[torch.Tensor, torch.Tensor]] = {}


def pil_hsv_tables(device) -> Tuple[torch.Tensor, torch.Tensor]:
    """PIL's RGB <-> HSV conversions tabulated over every 8-bit triple, on ``device`` (built once, 80 MB).

    ``to_hs[r << 16 | g << 8 | b]`` is PIL's ``(H, S)`` of that colour (``V`` is ``max(r, g, b)``) and
    ``to_rgb[h << 16 | s << 8 | v]`` PIL's RGB of that HSV triple, so a hue shift through the tables is
    PIL's own arithmetic, bit for bit.
    """
    device = torch.device(device)
    if device not in _HSV_TABLES:
        # every 24-bit value as big-endian bytes (0, a, b, c): the cube of all triples, one 4096 x 4096 image
        cube = np.arange(1 << 24, dtype='>u4').view(np.uint8).reshape(-1, 4)[:, 1:].tobytes()
        to_hs = np.ascontiguousarray(np.asarray(Image.frombytes('RGB', (4096, 4096), cube).convert('HSV'))
                                     .reshape(-1, 3)[:, :2])
        to_rgb = np.array(Image.frombytes('HSV', (4096, 4096), cube).convert('RGB')).reshape(-1, 3)
        _HSV_TABLES[device] = (torch.from_numpy(to_hs).to(device), torch.from_numpy(to_rgb).to(device))
    return _HSV_TABLES[device]


def adjust_hue(img: torch.Tensor, shift: torch.Tensor, tables: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """PIL's hue shift (mmcv's ``adjust_hue`` with the pillow backend, torchvision's ``adjust_hue`` on PIL):
    RGB -> HSV, ``H <- (H + shift) mod 256``, HSV -> RGB, through :func:`pil_hsv_tables`.

    ``shift`` ``(N,)`` is in uint8 hue units, ``int(hue_factor * 255) mod 256``.
    """
    to_hs, to_rgb = tables
    rgb = img.to(torch.int32)
    red, green, blue = rgb.unbind(1)
    hs = to_hs[(red << 16) | (green << 8) | blue]
    hue = (hs[..., 0].to(torch.int32) + shift.to(torch.int32).view(-1, 1, 1)) & 255
    value = torch.maximum(torch.maximum(red, green), blue)
    out = to_rgb[(hue << 16) | (hs[..., 1].to(torch.int32) << 8) | value]
    return out.permute(0, 3, 1, 2).to(img.dtype)


def _blend_step(img: torch.Tensor, operation: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor,
                saturation: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """One position of the jitter sequence for the samples whose operation there is brightness, contrast or
    saturation (``active`` and not hue): a blend with black, the mean grey or the grey image; the others get
    factor 1, which PIL's formula leaves unchanged exactly."""
    grey = luma(img)
    per_sample_operation = _per_sample(operation)
    degenerate = torch.where(per_sample_operation == CONTRAST, mean_level(grey),
                             torch.where(per_sample_operation == SATURATION, grey, torch.zeros_like(grey)))
    factor = torch.where(operation == BRIGHTNESS, brightness, torch.where(operation == CONTRAST, contrast, saturation))
    factor = torch.where(active & (operation != HUE), factor, torch.ones_like(factor))
    return blend(degenerate, img, factor)


def color_jitter(img: torch.Tensor, order: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor,
                 saturation: torch.Tensor, hue: torch.Tensor, hue_shift: torch.Tensor,
                 tables: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The colour jitter of mmpretrain's / torchvision's ``ColorJitter`` with a per-sample operation order.

    Sample ``n`` runs ``order[n, 0..3]`` (a permutation of BRIGHTNESS, CONTRAST, SATURATION, HUE), rounding
    to uint8 after each operation as PIL does. The hue step runs once for the whole batch: first the blends
    at positions before each sample's hue position, then the hue shift (where ``hue`` is 1), then the blends
    after it. Factors of 1 and ``hue`` 0 leave a sample unchanged.
    """
    hue_position = (order == HUE).to(torch.int64).argmax(1)
    for position in range(3):
        img = _blend_step(img, order[:, position], brightness, contrast, saturation, position < hue_position)
    img = torch.where(_per_sample(hue) > 0, adjust_hue(img, hue_shift, tables), img)
    for position in range(1, 4):
        img = _blend_step(img, order[:, position], brightness, contrast, saturation, position > hue_position)
    return img


def grayscale(img: torch.Tensor, kind: str = 'mmcv', weights: Tuple[float, float, float] = None) -> torch.Tensor:
    """The grey image of RGB ``(N, 3, H, W)``, kept in 3 channels.

    ``kind='mmcv'``: ``floor(w_b B + w_g G + w_r R)`` in float64, in that order (mmcv's ``RandomGrayscale``
    on a BGR image with ``channel_weights``; ``weights`` are the normalised R, G, B weights).
    ``kind='pil'``: PIL's ``'L'`` (:func:`luma`), as torchvision's ``RandomGrayscale`` on PIL images.
    """
    if kind == 'pil':
        grey = luma(img)
    elif kind == 'mmcv':
        red, green, blue = img.to(torch.float64).split(1, dim=1)
        w_red, w_green, w_blue = weights
        grey = torch.floor(blue * w_blue + green * w_green + red * w_red).to(img.dtype)
    else:
        raise ValueError(f'grayscale kind must be one of {GRAY_KINDS}, got {kind!r}')
    return grey.expand_as(img)


def solarize(img: torch.Tensor, threshold: float = 128.) -> torch.Tensor:
    """PIL's ``ImageOps.solarize`` / mmcv's ``solarize``: values ``>= threshold`` become ``255 - x``."""
    return torch.where(img >= threshold, 255. - img, img)


def pil_box_kernels(sigma: torch.Tensor, taps: int) -> torch.Tensor:
    """``(N, taps)`` weights of one extended box pass of PIL's ``GaussianBlur(radius=sigma)``.

    PIL turns sigma into a box radius ``r = l + a`` for 3 passes (Gwosdek et al.: integer part ``l``,
    fractional edge weight ``a``) in float32, then weights the ``2 l + 1`` central pixels by
    ``ww = floor(2^24 / (2 r + 1))`` and the two next ones by ``fw = (2^24 - (2 l + 1) ww) / 2``
    (fixed point, 24 fractional bits).
    """
    sigma2 = sigma.float() * sigma.float() / 3
    length = torch.sqrt(12.0 * sigma2.double() + 1.0).float()
    whole = torch.floor((length.double() - 1.0) / 2.0).float()
    frac = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2) / (6 * (sigma2 - (whole + 1) * (whole + 1)))
    radius = whole + frac
    inner = torch.floor(radius)
    ww = torch.floor(16777216.0 / (radius * 2 + 1)).double()
    fw = torch.floor((16777216.0 - (inner.double() * 2 + 1) * ww) / 2)
    offsets = (torch.arange(taps, device=sigma.device) - taps // 2).abs().double()
    inner = inner.double().view(-1, 1)
    weights = torch.where(offsets <= inner, ww.view(-1, 1), torch.where(offsets == inner + 1, fw.view(-1, 1), 0.))
    return (weights / 16777216.0).float()


def gaussian_kernels(sigma: torch.Tensor, taps: int) -> torch.Tensor:
    """``(N, taps)`` normalised Gaussian weights at offsets ``-(taps // 2)..taps // 2`` (torchvision's
    ``_get_gaussian_kernel1d`` in float32)."""
    offsets = torch.linspace(-(taps // 2), taps // 2, taps, device=sigma.device)
    pdf = torch.exp(-0.5 * (offsets / sigma.float().view(-1, 1)).pow(2))
    return pdf / pdf.sum(1, keepdim=True)


def opencv_gaussian_kernels(sigma: torch.Tensor, taps: int, fraction_bits: int = 8) -> torch.Tensor:
    """``(N, taps)`` weights of ``cv2.GaussianBlur(img, (0, 0), sigma)``: a normalised Gaussian of
    ``round(6 sigma + 1) | 1`` taps (float64), centred and zero-padded to ``taps``, in OpenCV's fixed point
    for integer images: ``fraction_bits`` (8 for uint8) fractional bits, outer taps rounded with error
    diffusion towards the centre, the centre taking what makes the sum exactly 1."""
    sigma = sigma.double().view(-1, 1)
    size = (torch.round(sigma * 6 + 1).to(torch.int64) | 1).clamp_(max=taps)
    offsets = (torch.arange(taps, device=sigma.device) - taps // 2).double()
    pdf = torch.exp(-0.5 * (offsets / sigma) ** 2) * (offsets.abs() <= (size - 1) // 2)
    kernel = pdf / pdf.sum(1, keepdim=True)
    unit = float(1 << fraction_bits)
    fixed = torch.zeros_like(kernel)
    error = torch.zeros_like(kernel[:, 0])
    for tap in range(taps // 2):  # outermost first; taps outside a sample's kernel stay 0
        value = kernel[:, tap] * unit + error
        fixed[:, tap] = fixed[:, taps - 1 - tap] = torch.round(value)
        error = value - fixed[:, tap]
    fixed[:, taps // 2] = unit - 2 * fixed[:, :taps // 2].sum(1)
    return (fixed / unit).float()


def _filter_rows(img: torch.Tensor, kernels: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """Correlate every row of sample ``n`` with ``kernels[n]`` (one grouped convolution, in full float32:
    TF32 would round the products)."""
    batch, channels, height, width = img.shape
    half = kernels.shape[1] // 2
    planes = F.pad(img.reshape(1, batch * channels, height, width), (half, half, 0, 0), mode=padding_mode)
    weight = kernels.repeat_interleave(channels, dim=0).view(batch * channels, 1, 1, -1)
    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                     allow_tf32=False):
        out = F.conv2d(planes, weight.to(img.dtype), groups=batch * channels)
    return out.view(batch, channels, height, width)


def gaussian_blur(img: torch.Tensor, sigma: torch.Tensor, kind: str, taps: int, fraction_bits: int = 8
                  ) -> torch.Tensor:
    """Blur sample ``n`` with standard deviation ``sigma[n]`` as the library named by ``kind`` does.

    - ``'pil'``: PIL's ``GaussianBlur``: 3 box passes along x, then 3 along y (:func:`pil_box_kernels`),
      edge pixels replicated, rounded half up to uint8 after every pass;
    - ``'torchvision'``: ``taps``-tap Gaussian (:func:`gaussian_kernels`), reflect padding, rounded once
      (half to even) at the end, as torchvision's ``gaussian_blur`` (separable here; float rounding apart,
      the same as its 2-D kernel);
    - ``'opencv'``: ``cv2.GaussianBlur`` (:func:`opencv_gaussian_kernels` with ``fraction_bits``: 8 for
      uint8 images), reflect-101, rounded half up once; exact for uint8 (every partial sum is a float32
      integer multiple of 2^-16).
    """
    if kind == 'pil':
        kernels = pil_box_kernels(sigma, taps)
        for transpose in (False, True):
            img = img.transpose(-1, -2) if transpose else img
            for _ in range(3):
                img = torch.floor(_filter_rows(img, kernels, 'replicate') + 0.5)
        return img.transpose(-1, -2).contiguous()
    if kind not in BLUR_KINDS:
        raise ValueError(f'blur kind must be one of {BLUR_KINDS}, got {kind!r}')
    if kind == 'torchvision':
        kernels = gaussian_kernels(sigma, taps)
        rows = _filter_rows(img, kernels, 'reflect')
        return torch.round(_filter_rows(rows.transpose(-1, -2), kernels, 'reflect').transpose(-1, -2))
    kernels = opencv_gaussian_kernels(sigma, taps, fraction_bits)
    rows = _filter_rows(img, kernels, 'reflect')
    return torch.floor(_filter_rows(rows.transpose(-1, -2), kernels, 'reflect').transpose(-1, -2) + 0.5)


def pil_blur_taps(max_sigma: float) -> int:
    """Kernel length :func:`pil_box_kernels` needs for sigmas up to ``max_sigma``."""
    sigma2 = max_sigma * max_sigma / 3
    whole = math.floor((math.sqrt(12 * sigma2 + 1) - 1) / 2)
    radius = whole + (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2) / (6 * (sigma2 - (whole + 1) ** 2))
    return 2 * (int(radius) + 1) + 1


def opencv_blur_taps(max_sigma: float) -> int:
    """Kernel length of ``cv2.GaussianBlur`` on 8-bit images for sigmas up to ``max_sigma``."""
    return int(round(max_sigma * 6 + 1)) | 1


def augment_colors(img: torch.Tensor, params: torch.Tensor, recipe: PhotometricRecipe) -> torch.Tensor:
    """The colour recipe on RGB ``img`` ``(N, 3, H, W)`` with per-sample ``params`` ``(N, len(COLOR_PARAMS))``:
    colour jitter, grayscale, Gaussian blur, solarisation, each where its column says so."""
    if img.shape[1] != 3:
        raise ValueError(f'the colour augmentations need RGB images, got {img.shape[1]} channels (use the band '
                         'recipe, RandomBandJitter/RandomBandGaussianBlur, for other band counts)')
    p = split_params(params, COLOR_PARAMS)
    if 'jitter' in recipe.steps:
        order = torch.stack([p[f'order_{i}'] for i in range(4)], 1).to(torch.int64)
        img = color_jitter(img, order, p['brightness'], p['contrast'], p['saturation'], p['hue'], p['hue_shift'],
                           pil_hsv_tables(img.device))
    if 'grayscale' in recipe.steps:
        img = torch.where(_per_sample(p['grayscale']) > 0, grayscale(img, recipe.gray, recipe.gray_weights), img)
    if 'blur' in recipe.steps:
        img = torch.where(_per_sample(p['blur']) > 0,
                          gaussian_blur(img, p['sigma'].clamp(min=1e-3), recipe.blur, recipe.blur_taps), img)
    if 'solarize' in recipe.steps:
        img = torch.where(_per_sample(p['solarize']) > 0, solarize(img, recipe.solarize_threshold), img)
    return img


def band_jitter(img: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, gains: torch.Tensor,
                max_value: float) -> torch.Tensor:
    """``RandomBandJitter`` per sample: ``x b``, then blended with its mean over pixels and bands
    (``m + c (x - m)``), then each band times its gain (``gains`` ``(N, C)``); rounded (half to even) and
    clipped to ``0..max_value``."""
    out = img * _per_sample(brightness)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = mean + _per_sample(contrast) * (out - mean)
    out = out * gains.view(*gains.shape, 1, 1)
    return torch.round(out).clamp_(0, max_value)


def augment_bands(img: torch.Tensor, params: torch.Tensor, recipe: PhotometricRecipe,
                  max_value: float) -> torch.Tensor:
    """The band recipe on ``img`` ``(N, C, H, W)`` (any band count) with ``params``
    ``(N, len(BAND_PARAMS) + C)``: band jitter, then Gaussian blur, each where its column says so."""
    p = split_params(params, BAND_PARAMS)
    if p['gains'].shape[1] != img.shape[1]:
        raise ValueError(f'band parameters hold {p["gains"].shape[1]} gains for {img.shape[1]}-band images')
    if 'jitter' in recipe.steps:
        img = torch.where(_per_sample(p['jitter']) > 0,
                          band_jitter(img, p['brightness'], p['contrast'], p['gains'], max_value), img)
    if 'blur' in recipe.steps:
        # OpenCV's kernels have 8 fractional bits for 8-bit images, 16 for 16-bit ones
        fraction_bits = 8 if max_value <= 255 else 16
        blurred = gaussian_blur(img, p['sigma'].clamp(min=1e-3), recipe.blur, recipe.blur_taps, fraction_bits)
        img = torch.where(_per_sample(p['blur']) > 0, blurred, img)
    return img
