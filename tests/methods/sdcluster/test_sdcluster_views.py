"""SDCluster's views: overlapping crops and flips whose aligned maps agree on a coordinate image, crops resized
like the official PIL pipeline, local crops, and the packed and collated batch."""
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from rs_ssl_plugin.methods.sdcluster.loss import align_to_overlap
from rs_ssl_plugin.methods.sdcluster.views import OverlappingMultiCrop, RandomFlipViews


def coordinate_image(size=256):
    """uint8 would quantise; a float 'image' whose channels are the x and y pixel coordinates."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([xs, ys, np.zeros_like(xs)], axis=-1)


def test_views_align_on_coordinate_image():
    """Aligned maps of two overlapping, independently flipped views show the same image coordinates."""
    np.random.seed(0)
    crops, flips = OverlappingMultiCrop(global_size=224), RandomFlipViews()
    errors = []
    for _ in range(20):
        results = flips(crops(dict(img=coordinate_image())))
        views = [torch.from_numpy(v).permute(2, 0, 1)[None, :2] for v in results['img']]
        feats = [F.avg_pool2d(v, 16) for v in views]  # a stride-16 "feature map" of coordinates
        flipped = torch.from_numpy(results['flip_flags'])
        gc, otc = torch.from_numpy(results['gc_bboxes']), torch.from_numpy(results['otc_bboxes'])
        a = align_to_overlap(feats[0], gc[None, 0, 1], flipped[None, 0])
        b = align_to_overlap(feats[1], otc[None, 1, 0], flipped[None, 1])
        errors.append((a - b).abs().mean().item())
    assert np.mean(errors) < 1.0, errors


def test_crops_are_resized_like_the_official_pil_pipeline():
    """The official views come from torchvision's resized_crop on PIL images (antialiased bilinear); on a
    noise image, the crops must be within one level of it (cv2's bilinear without antialiasing was up to 131
    levels away)."""
    import torchvision.transforms.functional as TF
    from PIL import Image
    np.random.seed(1)
    img = np.random.default_rng(0).integers(0, 256, (400, 360, 3), dtype=np.uint8)
    results = OverlappingMultiCrop(num_global=2, num_local=2, global_size=224, local_size=96)(dict(img=img))
    for crop, (x1, y1, x2, y2) in zip(results['img'], results['crop_boxes'].astype(int)):
        official = TF.resized_crop(Image.fromarray(img), y1, x1, y2 - y1, x2 - x1, list(crop.shape[:2]),
                                   interpolation=TF.InterpolationMode.BILINEAR)
        difference = np.abs(crop.astype(int) - np.asarray(official).astype(int))
        assert difference.max() <= 1 and difference.mean() < 0.3


def test_local_crops_and_collate():
    from mmcv.transforms import Compose
    from mmengine.dataset import default_collate
    init_default_scope('mmpretrain')
    pipeline = Compose([
        dict(type='OverlappingMultiCrop', num_global=2, num_local=3, global_size=64, local_size=32),
        dict(type='RandomFlipViews'),
        dict(type='PhotometricAugment', transforms=[dict(type='RandomGrayscale', prob=1.0, keep_channels=True)],
             on_device=True),
        dict(type='PackInputs', algorithm_keys=['gc_bboxes', 'otc_bboxes', 'flip_flags', 'photometric_params']),
    ])
    img = (np.random.rand(120, 100, 3) * 255).astype(np.uint8)
    batch = default_collate([pipeline(dict(img=img.copy())) for _ in range(2)])
    assert [tuple(v.shape) for v in batch['inputs']] == [(2, 3, 64, 64)] * 2 + [(2, 3, 32, 32)] * 3
    sample = batch['data_samples'][0]
    assert sample.gc_bboxes.shape == (2, 5, 4) and sample.otc_bboxes.shape == (5, 2, 4)
    assert sample.flip_flags.shape == (5, ) and sample.photometric_params.shape[0] == 5
    boxes = np.concatenate([sample.gc_bboxes.reshape(-1, 4), sample.otc_bboxes.reshape(-1, 4)])
    assert (boxes >= -1e-6).all() and (boxes <= 1 + 1e-6).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
