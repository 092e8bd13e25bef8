"""The CPU half of the photometric split: parameter distributions against the transforms they replace
(fixed seeds), the on_device switch, what PhotometricAugment refuses, and the PIL-equivalent resize."""
import random

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.datasets.transforms import RandomResizedCrop
from PIL import Image
from scipy.stats import chi2_contingency, chisquare, ks_2samp

from rs_ssl_plugin.datasets.transforms import (
    FastRandomResizedCrop,
    ForEachView,
    PhotometricAugment,
    mirror_planar,
    resize_like_pil,
)
from rs_ssl_plugin.methods.sdsh.views import SDSHMultiCrop
from rs_ssl_plugin.models.batch_augment import COLOR_PARAMS, HUE, PhotometricRecipe

COLUMN = {name: i for i, name in enumerate(COLOR_PARAMS)}
FALSE_TRANSFORMS = [
    dict(type='RandomApply', prob=0.8,
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]


@pytest.fixture(autouse=True)
def pretrain_scope():
    init_default_scope('mmpretrain')


def binomial_close(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """Two application frequencies agree within 4 standard errors."""
    p = (ours.mean() + theirs.mean()) / 2
    return abs(ours.mean() - theirs.mean()) <= 4 * np.sqrt(max(p * (1 - p), 1e-12) * (1 / len(ours) + 1 / len(theirs)))


def check_jitter_draws(params: np.ndarray, orders, factors, hues, applied_ref):
    """Our jitter columns against reference draws: probability, the order (uniform over the 24
    permutations, and equal to the reference's position statistics), factor and hue distributions."""
    applied = params[:, COLUMN['brightness']] != 1
    assert binomial_close(applied, applied_ref)
    jittered = params[applied]
    permutations = sorted(set(map(tuple, orders)))
    ours_orders = [tuple(row) for row in jittered[:, :4].astype(int)]
    counts = np.array([[ours_orders.count(order) for order in permutations],
                       [list(orders).count(order) for order in permutations]])
    assert len(permutations) == 24 and chisquare(counts[0]).pvalue > 1e-3  # uniform over the 24 orders
    assert chi2_contingency(counts).pvalue > 1e-3  # and distributed as the reference's
    hue_position = (jittered[:, :4] == HUE).argmax(1)
    assert chisquare(np.bincount(hue_position, minlength=4)).pvalue > 1e-3
    for name, reference in zip(('brightness', 'contrast', 'saturation'), factors):
        assert ks_2samp(jittered[:, COLUMN[name]], reference).pvalue > 1e-3, name
    # the hue factor becomes PIL's uint8 shift; compare the shifts
    ref_shifts = np.array([int(h * 255) % 256 for h in hues])
    assert ks_2samp(jittered[:, COLUMN['hue_shift']], ref_shifts).pvalue > 1e-3
    assert set(np.unique(jittered[:, COLUMN['hue_shift']])) <= set(np.unique(ref_shifts)) | {0.}
    assert (jittered[:, COLUMN['hue']] == 1).all() and (params[~applied][:, COLUMN['hue']] == 0).all()


def test_false_recipe_draws_follow_the_mmpretrain_transforms():
    """20,000 views from PhotometricAugment(on_device=True) against 20,000 draws of the transforms it
    replaces (RandomApply + ColorJitter, RandomGrayscale, GaussianBlur), fixed seeds."""
    np.random.seed(0)
    stage = PhotometricAugment(FALSE_TRANSFORMS, on_device=True)
    view = np.zeros((4, 4, 3), np.uint8)
    params = np.concatenate([stage(dict(img=[view, view]))['photometric_params'] for _ in range(10000)])
    apply, gray, blur = (stage.pipeline.transforms[i] for i in range(3))
    jitter = apply.transforms.transforms[0]
    np.random.seed(1)
    random.seed(1)
    n = len(params)
    applied_ref = np.array([apply.random_apply() for _ in range(n)])
    draws = [jitter._rand_params() for _ in range(n)]
    orders = [tuple(d[0]) for d in draws]
    factors = [np.array([d[i] for d in draws]) for i in (1, 2, 3)]
    check_jitter_draws(params, orders, factors, [d[4] for d in draws], applied_ref)
    gray_ref = np.array([gray._random_prob() < gray.prob for _ in range(n)])
    assert binomial_close(params[:, COLUMN['grayscale']] == 1, gray_ref)
    blur_ref = np.array([not blur.random_disable() for _ in range(n)])
    assert binomial_close(params[:, COLUMN['blur']] == 1, blur_ref)
    sigmas = params[params[:, COLUMN['blur']] == 1, COLUMN['sigma']]
    assert ks_2samp(sigmas, [blur.random_magnitude() for _ in range(n)]).pvalue > 1e-3
    assert 0.1 <= sigmas.min() and sigmas.max() <= 2.0
    assert not params[:, COLUMN['solarize']].any()
    # a wrong probability is detected at this sample size
    assert not binomial_close(params[:, COLUMN['grayscale']] == 1, np.random.rand(n) < 0.22)


def test_sdsh_draws_follow_torchvision():
    """SDSHMultiCrop(on_device=True) draws, per view kind, against torchvision's own parameter draws."""
    import torchvision.transforms as T
    np.random.seed(0)
    crop = SDSHMultiCrop(global_size=4, local_size=2, num_local=2, on_device=True)
    img = np.zeros((8, 8, 3), np.uint8)
    params = np.stack([crop(dict(img=img))['photometric_params'] for _ in range(2500)])  # (n, 4 views, P)
    assert crop(dict(img=img))['photometric_recipe'] == PhotometricRecipe(
        gray='pil', blur='torchvision', blur_taps=9, solarize_threshold=128.)
    torch.manual_seed(0)
    n = params.shape[0] * params.shape[1]
    draws = [T.ColorJitter.get_params([0.6, 1.4], [0.6, 1.4], [0.8, 1.2], [-0.1, 0.1]) for _ in range(n)]
    check_jitter_draws(params.reshape(n, -1), [tuple(d[0].tolist()) for d in draws],
                       [np.array([d[i] for d in draws]) for i in (1, 2, 3)], [d[4] for d in draws],
                       (torch.rand(n) <= 0.8).numpy())
    assert binomial_close(params[..., COLUMN['grayscale']].ravel() == 1, (torch.rand(n) < 0.2).numpy())
    blurred = params[..., COLUMN['blur']]
    assert not blurred[:, 0].any()  # the released recipe never blurs global crop 1 (p = 1 - 1.0)
    assert binomial_close(blurred[:, 1] == 1, (torch.rand(2500) <= 0.9).numpy())
    assert binomial_close(blurred[:, 2:].ravel() == 1, (torch.rand(5000) <= 0.5).numpy())
    sigmas = params[..., COLUMN['sigma']][blurred == 1]
    assert ks_2samp(sigmas, [T.GaussianBlur.get_params(0.1, 2.0) for _ in range(3000)]).pvalue > 1e-3
    solarized = params[..., COLUMN['solarize']]
    assert not solarized[:, [0, 2, 3]].any() and binomial_close(solarized[:, 1] == 1, (torch.rand(2500) < 0.2).numpy())


def test_on_device_switch_and_cpu_mode_runs_the_transforms():
    views = [np.random.default_rng(i).integers(0, 256, (20, 24, 3), dtype=np.uint8) for i in range(2)]
    np.random.seed(4)
    random.seed(4)
    cpu = PhotometricAugment(FALSE_TRANSFORMS)(dict(img=[v.copy() for v in views]))
    np.random.seed(4)
    random.seed(4)
    reference = ForEachView(FALSE_TRANSFORMS)(dict(img=[v.copy() for v in views]))
    assert 'photometric_params' not in cpu and all((a == b).all() for a, b in zip(cpu['img'], reference['img']))
    device = PhotometricAugment(FALSE_TRANSFORMS, on_device=True)(dict(img=[v.copy() for v in views]))
    assert all((a == b).all() for a, b in zip(device['img'], views))  # pixels untouched: the device does it
    assert device['photometric_params'].shape == (2, len(COLOR_PARAMS))
    assert device['photometric_recipe'].gray_weights == pytest.approx(
        tuple(np.array((0.2989, 0.587, 0.114)) / 0.9999))
    crop = SDSHMultiCrop(global_size=16, local_size=8, num_local=2)
    assert 'photometric_params' not in crop(dict(img=np.zeros((32, 32, 3), np.uint8)))


@pytest.mark.parametrize('transforms, message', [
    ([dict(type='RandomGrayscale', prob=0.2, keep_channels=True), FALSE_TRANSFORMS[0]], 'order'),
    ([dict(type='RandomFlip', prob=0.5)], 'cannot run RandomFlip'),
    ([dict(type='RandomGrayscale', prob=0.2)], 'keep_channels'),
    ([dict(type='ColorJitter', brightness=0.4, backend='cv2')], 'pillow'),
    ([dict(type='RandomBandGaussianBlur'), dict(type='RandomBandJitter')], 'RandomBandJitter then'),
])
def test_photometric_augment_refuses_what_the_device_cannot_reproduce(transforms, message):
    with pytest.raises(ValueError, match=message):
        PhotometricAugment(transforms, on_device=True)


def test_resize_equals_pil_bilinear_within_one_level():
    """Downscaling, upscaling and mixed, on noise (the worst case for rounding)."""
    img = np.random.default_rng(0).integers(0, 256, (300, 280, 3), dtype=np.uint8)
    for (h, w), size in [((300, 280), (224, 224)), ((61, 77), (224, 224)), ((250, 90), (224, 224)),
                         ((37, 280), (96, 96)), ((300, 280), (31, 50))]:
        crop = img[:h, :w]
        ours = resize_like_pil(crop, size).astype(int)
        pil = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR)).astype(int)
        assert ours.shape == pil.shape and np.abs(ours - pil).max() <= 1, (h, w, size)
        assert np.abs(ours - pil).mean() < 0.3
    grey = resize_like_pil(img[..., 0], (50, 40))
    assert grey.shape == (40, 50) and grey.dtype == np.uint8
    wide = resize_like_pil(img.astype(np.uint16) * 200, (50, 40))
    assert wide.dtype == np.uint16 and wide.max() > 255


def pil_bicubic_in_one_order(img, size, rows_first):
    """PIL's bicubic resize as two 1-D PIL resizes in the given order."""
    image, (width, height) = Image.fromarray(img), size
    if rows_first:
        return np.asarray(image.resize((img.shape[1], height), Image.BICUBIC).resize(size, Image.BICUBIC))
    return np.asarray(image.resize((width, img.shape[0]), Image.BICUBIC).resize(size, Image.BICUBIC))


def assert_within_pil_bicubic(ours, pil):
    """Within one level, but for at most one pixel in 10^4 two levels (docs/input_pipeline.md)."""
    difference = np.abs(ours.astype(int) - pil.astype(int))
    assert ours.shape == pil.shape and difference.max() <= 2
    assert (difference > 1).mean() < 1e-4 and (difference > 0).mean() < 0.02


def test_resize_equals_pil_bicubic_in_pils_pass_order():
    """Noise, shrinking, enlarging and mixed; PIL resamples the rows first when the height shrinks by more
    than twice as many pixels as the width, and with bicubic overshoot the other order is far off."""
    img = np.random.default_rng(0).integers(0, 256, (500, 480, 3), dtype=np.uint8)
    rows_first_cases = 0
    for (h, w), size in [((400, 400), (224, 224)), ((440, 221), (118, 86)), ((300, 200), (224, 224)),
                         ((251, 104), (137, 149)), ((57, 70), (98, 98)), ((180, 120), (98, 98)),
                         ((98, 130), (98, 98)), ((500, 480), (224, 224)), ((120, 470), (98, 98))]:
        crop = img[:h, :w]
        ours = resize_like_pil(crop, size, 'bicubic')
        pil = np.asarray(Image.fromarray(crop).resize(size, Image.BICUBIC))
        assert_within_pil_bicubic(ours, pil)
        rows_first = h - size[1] > 0 and h - size[1] > 2 * (w - size[0])
        assert (pil == pil_bicubic_in_one_order(crop, size, rows_first)).all(), (h, w, size)
        if rows_first:
            rows_first_cases += 1
            assert np.abs(pil.astype(int) - pil_bicubic_in_one_order(crop, size, False)).max() > 2
    assert rows_first_cases == 4
    with pytest.raises(ValueError, match='lanczos'):
        resize_like_pil(img, (10, 10), 'lanczos')


def test_mirror_keeps_the_planar_layout():
    img = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    planar = resize_like_pil(img, (7, 5))
    for view in (img, planar, img[..., 0]):
        mirrored = mirror_planar(view)
        assert (mirrored == view[:, ::-1]).all() and min(mirrored.strides) > 0
    assert mirror_planar(planar).strides == planar.strides and torch.from_numpy(mirror_planar(img)).shape == (5, 7, 3)


def test_fast_random_resized_crop_equals_pillow_backend():
    img = np.random.default_rng(1).integers(0, 256, (128, 160, 3), dtype=np.uint8)
    for interpolation in ('bilinear', 'bicubic'):
        fast = FastRandomResizedCrop(scale=48, interpolation=interpolation)
        pillow = RandomResizedCrop(scale=48, backend='pillow', interpolation=interpolation)
        for seed in range(5):
            np.random.seed(seed)
            ours = fast(dict(img=img))['img']
            np.random.seed(seed)
            theirs = pillow(dict(img=img))['img']
            assert ours.shape == (48, 48, 3)
            if interpolation == 'bilinear':
                assert np.abs(ours.astype(int) - theirs).max() <= 1
            else:
                assert_within_pil_bicubic(ours, theirs)
    with pytest.raises(ValueError, match='bilinear or bicubic'):
        FastRandomResizedCrop(scale=48, interpolation='lanczos')


def test_sdsh_crops_equal_torchvision_on_pil():
    """SDSHMultiCrop(on_device=True) makes the crops and flips of torchvision's RandomResizedCrop (bicubic)
    and RandomHorizontalFlip on PIL images, from the same torch draws, on square and oblong scenes."""
    for shape in [(256, 256, 3), (300, 420, 3)]:
        img = np.random.default_rng(shape[1]).integers(0, 256, shape, dtype=np.uint8)
        crop = SDSHMultiCrop(on_device=True)
        torch.manual_seed(0)
        views = crop(dict(img=img))['img']
        torch.manual_seed(0)
        image = Image.fromarray(img)
        reference = [crop.global_geometry(image) for _ in range(2)] + [crop.local_geometry(image) for _ in range(8)]
        assert [v.shape for v in views] == [(224, 224, 3)] * 2 + [(98, 98, 3)] * 8
        for view, expected in zip(views, reference):
            assert_within_pil_bicubic(view, np.asarray(expected))


def test_the_stage_draws_from_numpys_rng_only():
    """Worker seeding and resume act on numpy's RNG (as for the transforms it replaces)."""
    stage = PhotometricAugment(FALSE_TRANSFORMS, on_device=True)
    view = np.zeros((4, 4, 3), np.uint8)
    np.random.seed(7)
    first = stage(dict(img=[view] * 4))['photometric_params']
    random.seed(123)
    torch.manual_seed(123)
    np.random.seed(7)
    assert (stage(dict(img=[view] * 4))['photometric_params'] == first).all()
