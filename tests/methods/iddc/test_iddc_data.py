"""IDDC data: the two-view transforms, COCO-Stuff-27 and Potsdam-3 datasets, and the configs."""
import copy
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope
from mmpretrain.models import VisionTransformer
from mmseg.datasets import COCOStuffDataset
from mmseg.registry import DATASETS, MODELS

from helpers.tools import REPO
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
from rs_ssl_plugin.methods.iddc.datasets import COCO_STUFF_27_CLASSES, COCO_STUFF_FINE_TO_27, Potsdam3Dataset
from rs_ssl_plugin.methods.iddc.views import AnisotropicRandomResize, OverlappingCropPair

IDDC_CONFIGS = ['iddc_vit-s16_cocostuff27.py', 'iddc_vit-s8_cocostuff27.py', 'iddc_vit-s16_potsdam3.py',
                'iddc_vit-s8_potsdam3.py']


def coordinate_image(height, width):
    """uint8 image whose channels hold y, x (mod 256) and a constant, so crops reveal their position."""
    ys, xs = np.mgrid[:height, :width]
    return np.stack([ys % 256, xs % 256, np.full_like(ys, 7)], axis=2).astype(np.uint8)


def test_overlapping_crops_positions_content_and_label():
    crop = OverlappingCropPair(crop_size=64)
    np.random.seed(0)
    image = coordinate_image(150, 200)
    label = (np.arange(150 * 200).reshape(150, 200) % 7).astype(np.uint8)
    offsets = []
    for _ in range(200):
        results = crop(dict(img=image.copy(), gt_seg_map=label.copy(), seg_fields=['gt_seg_map']))
        (y0, x0), (y1, x1) = results['view_boxes']
        assert results['img'].shape == (64, 64, 6) and results['img_shape'] == (64, 64)
        assert 0 <= min(y0, y1) and max(y0, y1) <= 150 - 64 and 0 <= min(x0, x1) and max(x0, x1) <= 200 - 64
        assert (results['img'][..., :3] == image[y0:y0 + 64, x0:x0 + 64]).all()
        assert (results['img'][..., 3:] == image[y1:y1 + 64, x1:x1 + 64]).all()
        assert (results['gt_seg_map'] == label[y0:y0 + 64, x0:x0 + 64]).all()  # the first crop's label
        offsets.append((y1 - y0, x1 - x0))
    offsets = np.array(offsets)
    assert np.abs(offsets).max() <= 32 and np.abs(offsets).max() >= 25  # within half a crop, and using it
    with pytest.raises(ValueError, match='smaller than the crop'):
        crop(dict(img=coordinate_image(50, 200), seg_fields=[]))


def test_anisotropic_resize_factors_and_min_size():
    np.random.seed(1)
    resize = AnisotropicRandomResize(ratio_range=(0.8, 1.2))
    label = np.random.randint(0, 5, (100, 200)).astype(np.uint8)
    shapes = []
    for _ in range(100):
        results = resize(dict(img=coordinate_image(100, 200), gt_seg_map=label.copy(), seg_fields=['gt_seg_map']))
        height, width = results['img'].shape[:2]
        assert 80 <= height <= 120 and 160 <= width <= 240
        assert results['gt_seg_map'].shape == (height, width) and results['img_shape'] == (height, width)
        assert set(np.unique(results['gt_seg_map'])) <= set(range(5))  # nearest: no blended labels
        shapes.append((height / 100, width / 200))
    ratios = np.array(shapes)
    assert np.corrcoef(ratios[:, 0], ratios[:, 1])[0, 1] < 0.5  # independent factors: aspect changes
    enlarged = AnisotropicRandomResize(ratio_range=(0.8, 0.8), min_size=224)
    out = enlarged(dict(img=coordinate_image(200, 400), seg_fields=[]))
    assert out['img'].shape[:2] == (224, 448)  # 160x320 enlarged by 1.4, aspect kept


def test_views_share_the_flip():
    init_default_scope('mmseg')
    pipeline = Compose([dict(type='RandomFlip', prob=0.5), dict(type='AnisotropicRandomResize'),
                        dict(type='OverlappingCropPair', crop_size=64)])
    np.random.seed(2)
    flips = set()
    for _ in range(20):
        results = pipeline(dict(img=coordinate_image(120, 160), seg_fields=[]))
        # column coordinate increases left to right unless the image was flipped, in both views alike
        directions = [np.sign(int(v[0, -1, 1]) - int(v[0, 0, 1])) for v in (results['img'][..., :3],
                                                                           results['img'][..., 3:])]
        assert directions[0] == directions[1]
        flips.add(directions[0])
    assert flips == {-1, 1}


def test_coco_stuff_27_mapping_against_coco_super_categories():
    # COCO's 80 thing classes grouped by super-category in id order, and the values of the 11 unused ids
    unused = {11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90}
    groups = [('person', 1), ('vehicle', 8), ('outdoor', 5), ('animal', 10), ('accessory', 5), ('sports', 10),
              ('kitchen', 7), ('food-things', 10), ('furniture-things', 6), ('electronic', 6), ('appliance', 5),
              ('indoor', 7)]
    used = [v for v in range(91) if v not in unused]
    expected = [COCO_STUFF_27_CLASSES.index(name) for name, count in groups for _ in range(count)]
    assert [COCO_STUFF_FINE_TO_27[v] for v in used] == expected
    # stuff values 91..181 are mmseg's COCO-Stuff classes 80..170; '<coarse>-*' names give the coarse class
    stuff_names = COCOStuffDataset.METAINFO['classes'][80:]
    assert len(stuff_names) == 91 and len(COCO_STUFF_FINE_TO_27) == 182
    prefixes = dict(food='food-stuff', furniture='furniture-stuff')
    checked = 0
    for offset, name in enumerate(stuff_names):
        prefix = name.split('-')[0]
        coarse = prefixes.get(prefix, prefix)
        if '-' in name and coarse in COCO_STUFF_27_CLASSES:
            assert COCO_STUFF_FINE_TO_27[91 + offset] == COCO_STUFF_27_CLASSES.index(coarse), name
            checked += 1
    assert checked >= 25
    assert COCO_STUFF_27_CLASSES[COCO_STUFF_FINE_TO_27[91 + stuff_names.index('clouds')]] == 'sky'
    assert COCO_STUFF_27_CLASSES[COCO_STUFF_FINE_TO_27[91 + stuff_names.index('tree')]] == 'plant'


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    """Two images in the official IDDC layout with curated lists (one greyscale, as some COCO images are);
    labels hold fine values and 255."""
    root = str(tmp_path_factory.mktemp('cocostuff'))
    rng = np.random.default_rng(0)
    for split, ids in (('train2017', ['000000000009', '000000000025']), ('val2017', ['000000000139'])):
        for folder in ('images', 'annotations', 'curated'):
            os.makedirs(osp.join(root, folder, split))
        for image_id in ids:
            shape = (240, 260) if image_id.endswith('9') else (240, 260, 3)
            cv2.imwrite(osp.join(root, 'images', split, image_id + '.jpg'), rng.integers(0, 255, shape, dtype=np.uint8))
            label = rng.choice(np.array(list(range(182)) + [255]), size=(240, 260)).astype(np.uint8)
            cv2.imwrite(osp.join(root, 'annotations', split, image_id + '.png'), label)
        with open(osp.join(root, 'curated', split, 'Coco164kFull_Stuff_Coarse_7.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    return root


def test_coco_stuff_27_dataset_and_pipelines(coco_root):
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'iddc_vit-s16_cocostuff27.py'))
    val_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    val_cfg.data_root = coco_root
    val_set = DATASETS.build(val_cfg)
    assert len(val_set) == 1 and val_set.metainfo['classes'] == COCO_STUFF_27_CLASSES
    sample = val_set[0]['data_samples']
    raw = cv2.imread(osp.join(coco_root, 'annotations', 'val2017', '000000000139.png'), cv2.IMREAD_UNCHANGED)
    lookup = np.full(256, 255, np.uint8)
    lookup[:182] = COCO_STUFF_FINE_TO_27
    assert (sample.gt_sem_seg.data[0].numpy() == lookup[raw]).all()

    train_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    train_cfg.data_root = coco_root
    train_set = DATASETS.build(train_cfg)
    item = train_set[0]  # the greyscale one
    assert len(train_set) == 2 and item['inputs'].shape == (6, 224, 224)
    assert set(np.unique(item['data_samples'].gt_sem_seg.data.numpy())) <= set(range(27)) | {255}
    with pytest.raises(ValueError, match='fixed classes'):
        DATASETS.build(dict(train_cfg, metainfo=dict(classes=('a', 'b'))))


def test_potsdam3_merges_classes(tmp_path):
    init_default_scope('mmseg')
    root = str(tmp_path / 'potsdam')
    make_synthetic_potsdam(root, num_train=1, num_val=2, num_unlabeled=0, size=32, seed=4)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'iddc_vit-s16_potsdam3.py'))
    dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, data_root=root))
    assert isinstance(dataset, Potsdam3Dataset) and len(dataset) == 2
    merge = np.array([255, 0, 1, 2, 2, 0, 1] + [255] * 249, np.uint8)  # file coding: 0 ignore, k = class k-1
    for index in range(2):
        item = dataset[index]['data_samples']
        raw = cv2.imread(item.seg_map_path, cv2.IMREAD_UNCHANGED)
        assert (item.gt_sem_seg.data[0].numpy() == merge[raw]).all()


@pytest.mark.parametrize('name', IDDC_CONFIGS)
def test_configs_build_with_official_settings(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    assert cfg.custom_imports == dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)
    init_default_scope(cfg.default_scope)
    patch = 8 if 'vit-s8' in name else 16
    model_cfg = copy.deepcopy(cfg.model)
    assert model_cfg.backbone.init_cfg == dict(type='Pretrained', prefix='backbone.',
                                               checkpoint=f'pretrain/dino_vit-s{patch}.pth')
    model_cfg.backbone.init_cfg = None  # the converted weights do not exist in tests
    model = MODELS.build(model_cfg)
    # mmpretrain's ViT with DINO's position-embedding interpolation (the +0.1 offset)
    assert type(model.backbone).__name__ == 'DINOVisionTransformer'
    assert isinstance(model.backbone, VisionTransformer) and model.backbone.interpolate_offset == 0.1
    assert model.backbone.patch_embed.projection.kernel_size == (patch, patch)
    assert model.backbone.final_norm and model.backbone.out_type == 'featmap'
    assert model.backbone.layers[0].ln1.eps == 1e-6 and model.backbone.layers[0].attn.qkv.bias is not None
    assert sum(p.numel() for p in model.backbone.parameters()) == pytest.approx(21.7e6, rel=0.01)
    num_clusters = 27 if 'cocostuff' in name else 3
    assert model.head.num_clusters == num_clusters and model.probe.out_channels == num_clusters
    assert model.loss_cfg == dict(negative_weight=1.4, balance_weight=0.25 if patch == 8 else 0.4,
                                  positive_gate=0.2, negative_gate=0.12)
    assert model.num_negative_shifts == 3
    assert model.test_cfg == dict(mode='slide', crop_size=(224, 224), stride=(149, 149), flip=True,
                                  output='clusters')
    assert cfg.randomness.seed == (100 if patch == 8 else 1)
    assert cfg.train_dataloader.batch_size == 64 and cfg.train_dataloader.drop_last
    assert cfg.val_evaluator == dict(type='HungarianIoUMetric', eval_size=(320, 320))
    views = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    # the pipelines are shared (Potsdam-3 inherits COCO's): greyscale JPEGs (COCO) are accepted as 3 channels
    assert find_transform(cfg.train_dataloader.dataset.pipeline, 'CheckedLoadImageFromFile').expected_channels == (1, 3)
    assert views == ['CheckedLoadImageFromFile', 'CheckedLoadAnnotations', 'RandomFlip', 'AnisotropicRandomResize',
                     'OverlappingCropPair', 'PackSegInputs']


def test_optimiser_and_per_epoch_poly_schedule():
    """Adam 5e-4 without weight decay on the head, the probe at 1e-3, lr (1 - epoch / 20)^0.9 per epoch."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'iddc_vit-s16_cocostuff27.py'))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.update(arch=dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=32),
                              init_cfg=None)
    model_cfg.head.in_channels = 32
    model = MODELS.build(model_cfg)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    optimizer = optim_wrapper.optimizer
    assert isinstance(optimizer, torch.optim.Adam)
    lrs = {id(p): group['lr'] for group in optimizer.param_groups for p in group['params']}
    assert all(group['weight_decay'] == 0 for group in optimizer.param_groups)
    assert lrs[id(model.head.classifier.weight)] == 5e-4 and lrs[id(model.probe.weight)] == 1e-3
    assert cfg.train_cfg.max_epochs == 20
    # ended with the run, as mmengine's Runner ends a scheduler without `end`
    scheduler = PARAM_SCHEDULERS.build(dict(cfg.param_scheduler[0], end=cfg.train_cfg.max_epochs,
                                            optimizer=optim_wrapper))
    head_group = next(g for g in optimizer.param_groups if any(p is model.head.classifier.weight for p in g['params']))
    for epoch in range(20):
        assert head_group['lr'] == pytest.approx(5e-4 * (1 - epoch / 20) ** 0.9), epoch
        scheduler.step()
