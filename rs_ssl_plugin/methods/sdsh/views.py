"""SDSH data pipeline: DINOv2 multi-crop augmentation and batch-level iBOT block masks."""
import math
import random
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import default_collate
from mmengine.registry import FUNCTIONS
from mmpretrain.registry import TRANSFORMS
from PIL import Image
from torchvision import transforms as T

from ...datasets.transforms.geometry import mirror_planar, resize_like_pil
from ...datasets.transforms.views import draw_color_params
from ...models.batch_augment import PhotometricRecipe

# Blur probability of (global crop 1, global crop 2, local crops). DINOv2's GaussianBlur passes 1 - p to
# RandomApply (dinov2 PR #411), so the released recipe blurs crop 1 never and crop 2 with p = 0.9.
OFFICIAL_BLUR_PROBS = (0.0, 0.9, 0.5)
CORRECTED_BLUR_PROBS = (1.0, 0.1, 0.5)


@TRANSFORMS.register_module()
class SDSHMultiCrop(BaseTransform):
    """2 global and ``num_local`` local crops with SDSH's (DINOv2's) per-view augmentations.

    Every view: ``RandomResizedCrop`` (bicubic) + horizontal flip 0.5, colour jitter
    ``(0.4, 0.4, 0.2, 0.1)`` with p 0.8, grayscale with p 0.2, then Gaussian blur (kernel 9, sigma in
    [0.1, 2]) with a per-view probability; global crop 2 is then solarised (threshold 128) with p 0.2.
    The operations are torchvision's on PIL images, as in the official code. Reads ``results['img']`` (BGR
    ``uint8``, as loaded by ``LoadImageFromFile``) and writes the list of views (BGR ``uint8``), global crops
    first, for ``PackInputs``.

    With ``on_device=True`` only the crops and flips are made here, with torchvision's crop and flip draws
    (the same torch RNG calls) and :func:`resize_like_pil` (PIL's bicubic filter, 3.5-5x faster than PIL;
    within one uint8 level); the photometric parameters of every view are drawn from the same distributions
    (numpy's RNG) into ``photometric_params`` and ``photometric_recipe`` (torchvision's definitions: PIL's
    ``'L'`` grayscale, 9-tap Gaussian blur), which ``BatchAugmentSelfSupDataPreprocessor`` applies to the
    batch on the accelerator (docs/input_pipeline.md). The views are then channel-planar in memory, which
    ``PackInputs`` packs without a copy.

    Args:
        global_size (int): Side in pixels of the 2 square global crops. Defaults to 224.
        local_size (int): Side in pixels of the square local crops. Defaults to 98.
        num_local (int): Number of local crops. Defaults to 8.
        global_scale (Tuple[float, float]): ``RandomResizedCrop`` area range of the global crops, as a
            fraction of the image area. Defaults to (0.6, 1.0).
        local_scale (Tuple[float, float]): ``RandomResizedCrop`` area range of the local crops. Defaults to
            (0.05, 0.5).
        corrected_blur (bool): Use the intended blur probabilities (1.0, 0.1, 0.5 for global crop 1, global
            crop 2, local crops) instead of the released recipe's effective ones (0.0, 0.9, 0.5).
            Defaults to False.
        solarize_prob (float): Solarisation probability of global crop 2. Defaults to 0.2.
        on_device (bool): Leave the photometric operations to the data preprocessor (see above).
            Defaults to False.
    """

    recipe = PhotometricRecipe(kind='color', gray='pil', blur='torchvision', blur_taps=9, solarize_threshold=128.)

    def __init__(self, global_size: int = 224, local_size: int = 98, num_local: int = 8,
                 global_scale: Tuple[float, float] = (0.6, 1.0), local_scale: Tuple[float, float] = (0.05, 0.5),
                 corrected_blur: bool = False, solarize_prob: float = 0.2, on_device: bool = False):
        self.num_local = num_local
        self.solarize_prob = solarize_prob
        self.on_device = on_device
        self.blur_probs = CORRECTED_BLUR_PROBS if corrected_blur else OFFICIAL_BLUR_PROBS
        bicubic = T.InterpolationMode.BICUBIC
        self.global_geometry = T.Compose([T.RandomResizedCrop(global_size, scale=global_scale, interpolation=bicubic),
                                          T.RandomHorizontalFlip(0.5)])
        self.local_geometry = T.Compose([T.RandomResizedCrop(local_size, scale=local_scale, interpolation=bicubic),
                                         T.RandomHorizontalFlip(0.5)])
        self.color = T.Compose([T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8), T.RandomGrayscale(0.2)])
        self.blur = blur = T.GaussianBlur(kernel_size=9, sigma=(0.1, 2.0))
        self.global1_extra = T.RandomApply([blur], p=self.blur_probs[0])
        self.global2_extra = T.Compose([T.RandomApply([blur], p=self.blur_probs[1]),
                                        T.RandomSolarize(threshold=128, p=solarize_prob)])
        self.local_extra = T.RandomApply([blur], p=self.blur_probs[2])

    def transform(self, results: dict) -> dict:
        """``results`` with ``img`` the list of 2 global then ``num_local`` local views (BGR ``uint8``)."""
        img = results['img']
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'SDSHMultiCrop expects a 3-channel image, got shape {img.shape} '
                             f'from {results.get("img_path", "the pipeline")}')
        if self.on_device:
            # crops and flips do not care about the channel order: the BGR image as is, no conversion
            views = [self._crop_and_flip(img, self.global_geometry) for _ in range(2)]
            views += [self._crop_and_flip(img, self.local_geometry) for _ in range(self.num_local)]
            results['img'] = views
            results['photometric_params'] = np.stack([self._draw_params(v) for v in range(len(views))])
            results['photometric_recipe'] = self.recipe
            return results
        image = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
        views = [self.global1_extra(self.color(self.global_geometry(image))),
                 self.global2_extra(self.color(self.global_geometry(image)))]
        views += [self.local_extra(self.color(self.local_geometry(image))) for _ in range(self.num_local)]
        results['img'] = [np.ascontiguousarray(np.asarray(view)[..., ::-1]) for view in views]
        return results

    @staticmethod
    def _crop_and_flip(img: np.ndarray, geometry: T.Compose) -> np.ndarray:
        """``geometry`` (``RandomResizedCrop`` then ``RandomHorizontalFlip``) on the ``H x W x 3`` array
        ``img``: torchvision's draws, PIL's bicubic resize through torch."""
        crop, flip = geometry.transforms
        # get_params reads only the size of its image: an empty tensor of that size stands in for it
        top, left, height, width = crop.get_params(torch.empty(0, *img.shape[:2]), crop.scale, crop.ratio)
        view = resize_like_pil(img[top:top + height, left:left + width], (crop.size[1], crop.size[0]), 'bicubic')
        return mirror_planar(view) if torch.rand(1) < flip.p else view

    def _draw_params(self, view: int) -> np.ndarray:
        """The photometric parameters of view ``view`` (0, 1: global crops, then the local ones)."""
        jitter_apply, grayscale = self.color.transforms
        jitter = jitter_apply.transforms[0]
        return draw_color_params(
            jitter_apply.p, (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue), grayscale.p,
            self.blur_probs[min(view, 2)], lambda: np.random.uniform(*self.blur.sigma),
            self.solarize_prob if view == 1 else 0.)

    def __repr__(self):
        return (f'{self.__class__.__name__}(num_local={self.num_local}, blur_probs={self.blur_probs}, '
                f'on_device={self.on_device})')


class BlockMaskGenerator:
    """BEiT-style block masking on an ``h x w`` patch grid.

    Rectangles of area ``U(min_patches, remaining budget)`` (capped at ``max_patches`` per block) and aspect
    ratio log-uniform in ``[min_aspect, 1 / min_aspect]`` are added (10 tries each) until ``num_masked``
    patches are covered or no block fits.
    """

    def __init__(self, grid: Tuple[int, int], min_patches: int = 4, max_patches: int = None,
                 min_aspect: float = 0.3):
        self.height, self.width = grid
        self.min_patches = min_patches
        self.max_patches = max_patches if max_patches is not None else self.height * self.width // 2
        self.log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))

    def _add_block(self, mask: np.ndarray, budget: int) -> int:
        for _ in range(10):
            area = random.uniform(self.min_patches, budget)
            aspect = math.exp(random.uniform(*self.log_aspect))
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if w >= self.width or h >= self.height:
                continue
            top, left = random.randint(0, self.height - h), random.randint(0, self.width - w)
            block = mask[top:top + h, left:left + w]
            new = h * w - int(block.sum())
            if 0 < new <= budget:
                block[...] = True
                return new
        return 0

    def __call__(self, num_masked: int) -> np.ndarray:
        """An ``(h, w)`` bool mask with about ``num_masked`` patches covered by blocks (fewer if none fits)."""
        mask = np.zeros((self.height, self.width), dtype=bool)
        count = 0
        while count < num_masked:
            added = self._add_block(mask, min(num_masked - count, self.max_patches))
            if added == 0:
                break
            count += added
        return mask


def sample_ibot_masks(num_crops: int, grid: Tuple[int, int], mask_probability: float = 0.5,
                      ratio_range: Tuple[float, float] = (0.1, 0.6), generator: BlockMaskGenerator = None
                      ) -> torch.Tensor:
    """``(num_crops, h, w)`` bool masks as in DINOv2's collate: ``int(num_crops * p)`` crops are masked, the
    i-th with a ratio drawn from the i-th of equal slices of ``ratio_range``; the rest are unmasked; the
    order is shuffled."""
    generator = generator or BlockMaskGenerator(grid)
    num_patches = grid[0] * grid[1]
    num_masked_crops = int(num_crops * mask_probability)
    bounds = np.linspace(ratio_range[0], ratio_range[1], num_masked_crops + 1)
    masks = [generator(int(num_patches * random.uniform(bounds[i], bounds[i + 1])))
             for i in range(num_masked_crops)]
    masks += [generator(0) for _ in range(num_crops - num_masked_crops)]
    random.shuffle(masks)
    return torch.from_numpy(np.stack(masks))


@FUNCTIONS.register_module()
def sdsh_collate(data_batch: Sequence[dict], mask_grid: Tuple[int, int] = (16, 16), mask_probability: float = 0.5,
                 mask_ratio_range: Tuple[float, float] = (0.1, 0.6), min_mask_patches: int = 4,
                 max_mask_patches: int = None) -> dict:
    """``default_collate`` plus iBOT block masks for the ``2B`` global crops of the batch.

    Masks are drawn per batch (as DINOv2 does, so the ratios are stratified over the batch) and stored in
    ``data_samples[b].mask`` with shape ``(2, h, w)`` for image ``b``'s two global crops. Use it as
    ``collate_fn=dict(type='sdsh_collate', ...)`` of the training dataloader.

    Args:
        data_batch (Sequence[dict]): The samples of one batch (given by the dataloader).
        mask_grid (Tuple[int, int]): Patch grid ``(h, w)`` of a global crop (224 px at patch 14: 16 x 16).
            Defaults to (16, 16).
        mask_probability (float): Share of the ``2B`` global crops that get a mask; the others stay
            unmasked. Defaults to 0.5.
        mask_ratio_range (Tuple[float, float]): Range of the masked share of the patches, stratified over
            the masked crops. Defaults to (0.1, 0.6).
        min_mask_patches (int): Smallest area in patches of one masking block. Defaults to 4.
        max_mask_patches (int, optional): Largest area in patches of one masking block; ``None``: half the
            grid (128 for 16 x 16). Defaults to None.

    Returns:
        dict: ``default_collate``'s batch with the masks in the data samples.
    """
    batch = default_collate(data_batch)
    samples: List = batch['data_samples']
    generator = BlockMaskGenerator(tuple(mask_grid), min_mask_patches, max_mask_patches)
    masks = sample_ibot_masks(2 * len(samples), tuple(mask_grid), mask_probability, tuple(mask_ratio_range),
                              generator)
    for b, sample in enumerate(samples):
        sample.set_mask(masks[[b, len(samples) + b]])
    return batch
