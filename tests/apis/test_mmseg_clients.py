"""mmseg's own inference clients (``mmseg.apis.inference_model``, ``MMSegInferencer``) and
``tools/vis_cluster.py --seg-config`` run the plugin's segmentation configs, with the checked loaders in force.

The models are shrunk to a few channels; the configs' data preprocessors, class counts, test_cfg and test
pipelines (what the clients read) are the shipped ones."""
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
import rasterio
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.apis import MMSegInferencer, inference_model, init_model
from mmseg.registry import MODELS

from helpers.tools import REPO, load_tool

NORM = dict(type='BN', requires_grad=True)
# one config per kind of test pipeline: Potsdam (shared by every Potsdam fine-tuning config), 4-band GeoTIFF,
# binary masks, IDDC (mmseg's LoadAnnotations); the demo's runs through vis_cluster below
CONFIGS = ['upernet_r50_random_potsdam.py', 'upernet_r50_false_potsdam-rgbir.py',
           'upernet_r50_random_shaanxi-buildings.py', 'iddc_vit-s16_cocostuff27.py']


def shrunk_config(name):
    """The shipped config with a tiny model of the same kind, class count, preprocessor and test_cfg."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    model = cfg.model
    if model.type == 'IDDC':
        model.backbone.update(arch=dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=32),
                              init_cfg=None)
        model.head.in_channels = 32
        return cfg
    cfg.model = dict(type='EncoderDecoder', data_preprocessor=model.data_preprocessor, test_cfg=model.test_cfg,
                     backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, norm_cfg=NORM,
                                   in_channels=len(model.data_preprocessor.mean)),
                     decode_head=dict(type='FCNHead', in_channels=64, in_index=3, channels=8, num_convs=1,
                                      num_classes=model.decode_head.num_classes, norm_cfg=NORM,
                                      loss_decode=dict(type='CrossEntropyLoss')))
    return cfg


def band_count(cfg):
    return len(cfg.model.data_preprocessor.mean)


def write_input(folder, name, bands, dtype=np.uint8):
    """A small image file as the config's loader expects it (PNG for 3 bands, GeoTIFF otherwise) and the array
    that loader gives for it (BGR for 3 bands, file order otherwise)."""
    rng = np.random.default_rng(len(name))
    pixels = rng.integers(0, 256, (40, 48, bands)).astype(dtype)
    if bands == 3:
        path = osp.join(folder, f'{name}.png')
        cv2.imwrite(path, pixels)
        return path, pixels
    path = osp.join(folder, f'{name}.tif')
    with rasterio.open(path, 'w', driver='GTiff', width=48, height=40, count=bands, dtype=pixels.dtype) as dst:
        dst.write(pixels.transpose(2, 0, 1))
    return path, pixels


@pytest.fixture(params=CONFIGS, ids=lambda name: osp.basename(name))
def model_files(request, tmp_path):
    cfg = shrunk_config(request.param)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    num_classes = model.head.num_clusters if cfg.model.type == 'IDDC' else model.decode_head.num_classes
    meta = dict(classes=[f'class{i}' for i in range(num_classes)],
                palette=[[40 * i % 256] * 3 for i in range(num_classes)])
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), checkpoint)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    return config, checkpoint, band_count(cfg)


def labels(result):
    return result.pred_sem_seg.data.cpu().numpy()


def test_inference_model_and_mmseg_inferencer_run_the_plugin_configs(model_files, tmp_path):
    config, checkpoint, bands = model_files
    path, pixels = write_input(str(tmp_path), 'scene', bands)
    model = init_model(config, checkpoint, device='cpu')
    from_file = labels(inference_model(model, path))
    assert from_file.shape == (1, 40, 48)
    np.testing.assert_array_equal(labels(inference_model(model, pixels)), from_file)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        inferencer = MMSegInferencer(model=config, weights=checkpoint, device='cpu')
    for given in (path, pixels):
        np.testing.assert_array_equal(labels(inferencer(given, return_datasamples=True)), from_file)

    # the plugin's checks stay in force in both clients
    wrong, wrong_pixels = write_input(str(tmp_path), 'wrong_bands', 4 if bands == 3 else 3)
    with pytest.raises(ValueError, match=r'wrong_bands\.(png|tif) has \d channel\(s\), expected'):
        inferencer(wrong)
    with pytest.raises(ValueError, match=r'the input array has \d channel\(s\), expected'):
        inference_model(model, wrong_pixels)
    deep, _ = write_input(str(tmp_path), 'deep', bands, np.uint16)
    if bands == 3:  # the 4-band config loads color_type='unchanged', which keeps 16-bit values
        with pytest.raises(ValueError, match='deep.png is uint16'):
            inferencer(deep)


def test_vis_cluster_with_a_segmentation_config(tmp_path):
    cfg = shrunk_config('demo/upernet_r18_false_synthetic.py')
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'model.pth')
    meta = dict(classes=[f'class{i}' for i in range(6)], palette=[[40 * i] * 3 for i in range(6)])
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), checkpoint)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    path, _ = write_input(str(tmp_path), 'scene', 3)
    load_tool('vis_cluster').main([checkpoint, path, '--seg-config', config, '--out-dir', str(tmp_path / 'vis'),
                                   '--device', 'cpu'])
    clusters = cv2.imread(str(tmp_path / 'vis' / 'scene_clusters.png'), cv2.IMREAD_UNCHANGED)
    expected = labels(inference_model(init_model(config, checkpoint, device='cpu'), path))[0]
    np.testing.assert_array_equal(clusters, expected)
