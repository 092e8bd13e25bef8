"""Device-stage photometric ops against the per-image transforms the methods ran on the CPU (mmcv/mmpretrain
with the pillow backend for FALSE and SDCluster, torchvision on PIL images for SDSH, OpenCV for the band
blur): for fixed parameters every op must be within one uint8 level."""
from unittest import mock

import cv2
import mmcv
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from mmcv.transforms import RandomApply, RandomGrayscale
from mmengine.registry import init_default_scope
from mmpretrain.datasets.transforms import ColorJitter, GaussianBlur
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

import rs_ssl_plugin  # noqa: F401  (numpy-2 fix of mmcv.adjust_hue)
from rs_ssl_plugin.datasets.transforms import PhotometricAugment, RandomBandGaussianBlur, RandomBandJitter
from rs_ssl_plugin.models import batch_augment as ba
from rs_ssl_plugin.models.data_preprocessor import BatchAugmentSelfSupDataPreprocessor


@pytest.fixture(autouse=True)
def pretrain_scope():
    init_default_scope('mmpretrain')


@pytest.fixture(scope='module')
def images():
    """Four RGB images: noise (every rounding case), and a smooth one with saturated colours and flat grey."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (3, 37, 45, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:37, 0:45]
    smooth = np.stack([xs * 255 // 44, ys * 255 // 36, np.full_like(xs, 128)], -1).astype(np.uint8)
    smooth[:5, :5] = 90  # grey: zero saturation
    return np.concatenate([noise, smooth[None]])


def as_batch(images):
    return torch.from_numpy(images).permute(0, 3, 1, 2).float()


def max_level_difference(out, reference):
    return int(np.abs(out.permute(0, 2, 3, 1).numpy().astype(int) - np.asarray(reference).astype(int)).max())


def bgr(img):
    return np.ascontiguousarray(img[..., ::-1])


@pytest.mark.parametrize('name', ['brightness', 'contrast', 'saturation'])
def test_enhance_ops_equal_pil(images, name):
    factors = [0.0, 0.37, 1.0, 1.8]  # incl. PIL's copy shortcuts and extrapolation (clipping)
    op = dict(brightness=ba.adjust_brightness, contrast=ba.adjust_contrast, saturation=ba.adjust_saturation)[name]
    enhancer = dict(brightness=ImageEnhance.Brightness, contrast=ImageEnhance.Contrast,
                    saturation=ImageEnhance.Color)[name]
    mmcv_op = dict(brightness=mmcv.adjust_brightness, contrast=mmcv.adjust_contrast,
                   saturation=lambda img, f, backend: mmcv.adjust_color(img, alpha=f, backend=backend))[name]
    out = op(as_batch(images), torch.tensor(factors))
    # mmpretrain's ColorJitter (mmcv, pillow backend, on BGR) and torchvision's on PIL images
    via_mmcv = [mmcv_op(bgr(img), f, backend='pillow')[..., ::-1] for img, f in zip(images, factors)]
    via_torchvision = [np.asarray(getattr(TF, f'adjust_{name}')(Image.fromarray(img), f))
                       for img, f in zip(images, factors)]
    via_pil = [np.asarray(enhancer(Image.fromarray(img)).enhance(f)) for img, f in zip(images, factors)]
    for reference in (via_mmcv, via_torchvision, via_pil):
        assert max_level_difference(out, reference) <= 1


def test_hue_equals_mmcv_and_torchvision(images):
    hues = [-0.2, -0.05, 0.1, 0.2]
    shifts = torch.tensor([int(h * 255) % 256 for h in hues], dtype=torch.float32)
    out = ba.adjust_hue(as_batch(images), shifts, ba.pil_hsv_tables('cpu'))
    via_mmcv = [mmcv.adjust_hue(bgr(img), h, backend='pillow')[..., ::-1] for img, h in zip(images, hues)]
    via_torchvision = [np.asarray(TF.adjust_hue(Image.fromarray(img), h)) for img, h in zip(images, hues)]
    assert max_level_difference(out, via_mmcv) <= 1
    assert max_level_difference(out, via_torchvision) <= 1
    # PIL's HSV round trip is not the identity: a zero shift still changes pixels, hence the 'hue' flag
    unshifted = ba.adjust_hue(as_batch(images), torch.zeros(4), ba.pil_hsv_tables('cpu'))
    assert max_level_difference(unshifted, images) > 1


def test_grayscale_conventions_differ_and_each_matches_its_library(images):
    weights = np.array((0.114, 0.587, 0.2989)) / sum((0.114, 0.587, 0.2989))
    mmcv_gray = ba.grayscale(as_batch(images), 'mmcv', (weights[2], weights[1], weights[0]))
    transform = RandomGrayscale(prob=1.0, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
    assert max_level_difference(mmcv_gray, [transform(dict(img=bgr(img)))['img'][..., ::-1] for img in images]) <= 1
    pil_gray = ba.grayscale(as_batch(images), 'pil')
    assert max_level_difference(pil_gray, [np.asarray(TF.rgb_to_grayscale(Image.fromarray(img), 3))
                                           for img in images]) <= 1
    # mmcv truncates 0.2989/0.587/0.114 (normalised), PIL rounds 0.299/0.587/0.114: one level apart here and there
    assert (mmcv_gray != pil_gray).any() and (mmcv_gray - pil_gray).abs().max() <= 1


def test_solarize_equals_pil_and_mmcv(images):
    out = ba.solarize(as_batch(images), 128.)
    assert max_level_difference(out, [np.asarray(ImageOps.solarize(Image.fromarray(img), 128)) for img in images]) == 0
    assert max_level_difference(out, [mmcv.solarize(img, 128) for img in images]) == 0


@pytest.mark.parametrize('sigmas', [(0.1, 0.45, 0.9, 1.37), (1.6, 1.85, 1.99, 2.0)])
def test_blurs_equal_their_libraries(images, sigmas):
    sigma = torch.tensor(sigmas)
    pil = ba.gaussian_blur(as_batch(images), sigma, 'pil', ba.pil_blur_taps(2.0))
    assert max_level_difference(pil, [np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(s)))
                                      for img, s in zip(images, sigmas)]) <= 1
    tv = ba.gaussian_blur(as_batch(images), sigma, 'torchvision', 9)
    assert max_level_difference(tv, [np.asarray(TF.gaussian_blur(Image.fromarray(img), 9, [s, s]))
                                     for img, s in zip(images, sigmas)]) <= 1
    opencv = ba.gaussian_blur(as_batch(images), sigma, 'opencv', ba.opencv_blur_taps(2.0))
    assert max_level_difference(opencv, [cv2.GaussianBlur(img, (0, 0), s) for img, s in zip(images, sigmas)]) <= 1
    # the three definitions are different filters
    assert (pil - tv).abs().max() > 1 and (tv - opencv).abs().max() > 1


def test_color_jitter_follows_mmpretrain_order_and_factors(images):
    """Same seed, same draws: PhotometricAugment's parameters applied on the batch equal mmpretrain's
    RandomApply(ColorJitter) applied image by image, for every order of the four operations."""
    config = dict(type='RandomApply', prob=0.8,
                  transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)])
    stage = PhotometricAugment([config], on_device=True)
    reference = RandomApply(**{k: v for k, v in config.items() if k != 'type'})
    orders = set()
    for seed in range(12):
        np.random.seed(seed)
        params = stage(dict(img=list(images)))['photometric_params']
        np.random.seed(seed)
        expected = [reference(dict(img=bgr(img)))['img'][..., ::-1] for img in images]
        out = ba.augment_colors(as_batch(images), torch.from_numpy(params), stage.recipe)
        assert max_level_difference(out, expected) <= 1
        orders.update(tuple(p[:4]) for p, jitter in zip(params, params[:, 4] != 1) if jitter)
    assert len(orders) > 12  # many of the 24 orders were exercised


def test_preprocessor_runs_the_falses_cpu_transforms_on_the_batch(images):
    """The whole FALSE view recipe (jitter, grayscale, blur) for drawn parameters, against the per-image
    mmpretrain transforms with those parameters; then the normalisation of SelfSupDataPreprocessor."""
    from mmpretrain.structures import DataSample
    transforms = [
        dict(type='RandomApply', prob=0.8,
             transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5)]
    stage = PhotometricAugment(transforms, on_device=True)
    np.random.seed(3)
    samples, expected = [], []
    for img in images:
        results = stage(dict(img=[bgr(img), bgr(img[::-1])]))
        params = results['photometric_params']
        samples.append(DataSample(photometric_params=params, photometric_recipe=results['photometric_recipe']))
        for view, p in zip(results['img'], params):
            expected.append(apply_false_params_per_image(view, p))
    inputs = [torch.stack([torch.from_numpy(bgr(img) if v == 0 else bgr(img[::-1])).permute(2, 0, 1)
                           for img in images]) for v in range(2)]
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    preprocessor = BatchAugmentSelfSupDataPreprocessor(mean=mean, std=std, to_rgb=True)
    out = preprocessor(dict(inputs=inputs, data_samples=samples), training=True)['inputs']
    pixels = [view * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1) for view in out]
    got = torch.stack([pixels[v][b] for b in range(len(images)) for v in range(2)]).round()
    assert max_level_difference(got, np.stack(expected)) <= 1
    applied = np.stack([s.photometric_params for s in samples])
    assert applied[..., ba.COLOR_PARAMS.index('blur')].any() and (applied[..., 4] != 1).any()


def apply_false_params_per_image(view_bgr, params):
    """mmpretrain's ColorJitter / mmcv's RandomGrayscale / mmpretrain's GaussianBlur on one BGR view, forced
    to the given parameters; returns RGB."""
    p = dict(zip(ba.COLOR_PARAMS, params.tolist()))
    img = view_bgr
    if p['brightness'] != 1 or p['hue']:
        jitter = ColorJitter(brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)
        order = np.array([p[f'order_{i}'] for i in range(4)], int)
        # a factor whose int(h * 255) mod 256 is the drawn shift
        hue = p['hue_shift'] / 255 + 1e-4 if p['hue_shift'] < 128 else (p['hue_shift'] - 256) / 255 - 1e-4
        drawn = (order, p['brightness'], p['contrast'], p['saturation'], hue)
        with mock.patch.object(ColorJitter, '_rand_params', return_value=drawn):
            img = jitter(dict(img=img))['img']
    if p['grayscale']:
        gray = RandomGrayscale(prob=1.0, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989))
        img = gray(dict(img=img))['img']
    if p['blur']:
        img = GaussianBlur(radius=p['sigma'], prob=1.0)(dict(img=img))['img']
    return img[..., ::-1]


def test_band_ops_equal_band_transforms():
    """Same seed, same draws: the band recipe on the batch equals RandomBandJitter + RandomBandGaussianBlur."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 33, 29, 4), dtype=np.uint8)
    transforms = [dict(type='RandomBandJitter', brightness=0.8, contrast=0.8, band_gain=0.2, prob=0.8),
                  dict(type='RandomBandGaussianBlur', sigma_range=(0.1, 2.0), prob=0.5)]
    stage = PhotometricAugment(transforms, on_device=True)
    jitter, blur = RandomBandJitter(0.8, 0.8, 0.2, 0.8), RandomBandGaussianBlur((0.1, 2.0), 0.5)
    np.random.seed(5)
    params = np.concatenate([stage(dict(img=[img]))['photometric_params'] for img in images])
    np.random.seed(5)
    expected = [blur(jitter(dict(img=img.copy())))['img'] for img in images]
    out = ba.augment_bands(as_batch(images), torch.from_numpy(params), stage.recipe, 255.)
    assert max_level_difference(out, expected) <= 1
    assert params[:, 0].any() and not params[:, 0].all() and params[:, 3].any()


def test_preprocessor_without_to_rgb_augments_the_bgr_views_alike(images):
    """``to_rgb=False`` keeps the views in BGR: the colour operations, defined on RGB, run on the flipped batch
    and the result is flipped back. With saturation, hue and (on half of the samples) grayscale on, its output
    is ``to_rgb=True``'s with the channels reversed, and so is the normalisation by the mean and std in the
    matching order."""
    from mmpretrain.structures import DataSample
    params = np.tile(ba.NEUTRAL_COLOR_PARAMS, (len(images), 1))
    columns = {name: ba.COLOR_PARAMS.index(name) for name in ba.COLOR_PARAMS}
    params[:, [columns[f'order_{i}'] for i in range(4)]] = [ba.HUE, ba.SATURATION, ba.BRIGHTNESS, ba.CONTRAST]
    params[:, columns['saturation']] = [0.3, 1.7, 0.8, 1.4]
    params[:, columns['hue']] = 1
    params[:, columns['hue_shift']] = [20, 200, 90, 5]
    params[:, columns['grayscale']] = [1, 0, 0, 1]
    samples = [DataSample(photometric_params=p[None], photometric_recipe=ba.PhotometricRecipe()) for p in params]
    views_bgr = torch.from_numpy(np.ascontiguousarray(images[..., ::-1])).permute(0, 3, 1, 2)
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    rgb = BatchAugmentSelfSupDataPreprocessor(mean=mean, std=std, to_rgb=True)(
        dict(inputs=[views_bgr], data_samples=samples), training=True)['inputs'][0]
    kept_bgr = BatchAugmentSelfSupDataPreprocessor(mean=mean[::-1], std=std[::-1], to_rgb=False)(
        dict(inputs=[views_bgr], data_samples=samples), training=True)['inputs'][0]
    torch.testing.assert_close(kept_bgr.flip(1), rgb, rtol=0, atol=1e-6)
    pixels = (rgb * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)).round()
    assert (pixels - as_batch(images)).abs().amax(dim=(1, 2, 3)).min() > 10  # every sample was changed
    assert (pixels[[0, 3], 0] == pixels[[0, 3], 2]).all() and not (pixels[[1, 2], 0] == pixels[[1, 2], 2]).all()
