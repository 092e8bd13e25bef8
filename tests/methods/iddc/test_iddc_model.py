"""IDDC model: DINO converter against timm, frozen backbone, head, inference modes, Runner training."""
import copy
import os
import os.path as osp

import cv2
import pytest
import timm
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmpretrain.models import VisionTransformer
from mmseg.apis import inference_model, init_model
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from helpers.runner import StateAtStart
from helpers.tools import REPO, load_tool
from rs_ssl_plugin.checkpoints.conversion import convert_checkpoint
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
from rs_ssl_plugin.methods.iddc.converter import convert_dino_vit
from rs_ssl_plugin.utils.windows import slide_windows

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def randomised(module, seed=0):
    """Every tensor random (LayerNorm weights around 1) so that a wrong key mapping cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=gen) * 0.1
            param.copy_(noise + 1 if name.endswith('norm1.weight') or name.endswith('norm2.weight')
                        or name == 'norm.weight' else noise)
    return module


def tiny_model_cfg(num_clusters=3, probe_classes=None, **test_cfg):
    return dict(
        type='IDDC',
        data_preprocessor=dict(type='MultiViewSegDataPreProcessor', mean=MEAN, std=STD, bgr_to_rgb=True,
                               size=(32, 32)),
        backbone=dict(type='mmpretrain.VisionTransformer', _scope_='mmpretrain', arch=TINY_ARCH, patch_size=8,
                      img_size=32, out_type='featmap', final_norm=True),
        head=dict(type='IDDCHead', in_channels=32, num_clusters=num_clusters),
        probe_classes=probe_classes,
        test_cfg=test_cfg or None)


def test_dino_checkpoint_gives_timm_features(tmp_path):
    """timm's ViT-S/16 (DINO's architecture and key names) with random weights, saved as an official full
    DINO checkpoint, converted and loaded into mmpretrain's ViT: the same final-norm patch tokens."""
    torch.manual_seed(0)
    reference = randomised(timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=0)).eval()
    official = {f'module.backbone.{k}': v for k, v in reference.state_dict().items()}
    official['module.head.last_layer.weight_g'] = torch.ones(1, 4)  # DINO projection head: dropped
    src, dst = str(tmp_path / 'dino_full.pth'), str(tmp_path / 'converted.pth')
    torch.save(dict(teacher=official, student={}, epoch=100), src)
    backbone = VisionTransformer(arch='deit-small', patch_size=16, img_size=224, out_type='featmap',
                                 final_norm=True, qkv_bias=True)
    report = convert_checkpoint(src, dst, 'dino-vit', target_module=backbone)
    assert report.complete and not report.unexpected
    state = torch.load(dst, weights_only=False)['state_dict']
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()}, strict=True)
    backbone.eval()
    image = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = reference.forward_features(image)[:, 1:]  # after the final norm, without the CLS token
        ours = backbone(image)[-1]
    assert ours.shape == (2, 384, 14, 14)
    assert torch.allclose(ours.flatten(2).transpose(1, 2), expected, atol=1e-5)


def test_dino_converter_rejects_foreign_keys():
    with pytest.raises(KeyError, match='not part of an official DINO'):
        convert_dino_vit({'pos_embed': torch.zeros(1), 'layer1.0.conv1.weight': torch.zeros(1)})
    with pytest.raises(KeyError, match='no pos_embed'):
        convert_dino_vit({'head.weight': torch.zeros(1)})


def test_backbone_frozen_and_in_eval_mode():
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg())
    model.train()
    assert not model.backbone.training and model.head.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    feats = model.extract_feat(torch.randn(2, 3, 32, 32))
    assert feats.shape == (2, 32, 4, 4) and not feats.requires_grad


def test_head_layout():
    init_default_scope('mmseg')
    head = MODELS.build(dict(type='IDDCHead', in_channels=384, num_clusters=27))
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (384, 384, (3, 3)), (384, 384, (1, 1)), (384, 27, (1, 1))]
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)) for m in head.modules())
    inter, logits = head(torch.randn(1, 384, 14, 14))
    assert inter.shape == (1, 384, 14, 14) and logits.shape == (1, 27, 14, 14) and (inter >= 0).all()


def two_view_batch(batch_size=4, size=32, with_labels=True):
    samples = []
    for _ in range(batch_size):
        sample = SegDataSample()
        if with_labels:
            sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, size, size)))
        sample.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size)))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (6, size, size), dtype=torch.uint8) for _ in range(batch_size)]
    return dict(inputs=inputs, data_samples=samples)


def test_loss_only_trains_head_and_probe_gets_detached_features():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(probe_classes=3))
    data = model.data_preprocessor(two_view_batch(), training=True)
    assert data['inputs'].shape == (4, 6, 32, 32)
    losses = model(**data, mode='loss')
    assert {'loss_pos', 'loss_neg', 'loss_bal', 'loss_probe', 'usage_neg_entropy', 'probe_acc'} <= set(losses)
    losses['loss_probe'].backward(retain_graph=True)
    assert all(p.grad is None for p in model.head.parameters())  # the probe never trains the head
    assert model.probe.weight.grad is not None
    (losses['loss_pos'] + losses['loss_neg'] + losses['loss_bal']).backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert all(p.grad is None for p in model.backbone.parameters())


def test_loss_is_iddc_loss_of_the_two_crops(monkeypatch):
    """IDDC.loss == iddc_loss of the first crop's and the second crop's own features and logits (each crop alone
    through the model), with the batch shifts it drew and its loss settings, plus the probe's cross-entropy on
    the first crop."""
    import rs_ssl_plugin.methods.iddc.segmentor as iddc_module
    from rs_ssl_plugin.methods.iddc.loss import iddc_loss
    init_default_scope('mmseg')
    torch.manual_seed(0)
    settings = dict(negative_weight=1.1, balance_weight=0.3, positive_gate=0.1, negative_gate=0.3)
    model = MODELS.build(dict(tiny_model_cfg(probe_classes=3), loss=dict(settings, num_negative_shifts=2)))
    model = model.double().train()
    drawn = []

    def fixed_shifts(batch_size, num_shifts):
        drawn.append((batch_size, num_shifts))
        return [1, 2][:num_shifts]

    monkeypatch.setattr(iddc_module, 'sample_negative_shifts', fixed_shifts)
    data = model.data_preprocessor(two_view_batch(batch_size=4), training=True)
    inputs, samples = data['inputs'].double(), data['data_samples']
    got = model.loss(inputs, samples)
    assert drawn == [(4, 2)]
    with torch.no_grad():
        feats = [model.backbone(inputs[:, 3 * v:3 * v + 3])[-1] for v in (0, 1)]
    (inter0, logits0), (_, logits1) = model.head(feats[0]), model.head(feats[1])
    expected = iddc_loss(feats0=feats[0], feats1=feats[1], logits0=logits0, logits1=logits1, shifts=[1, 2], **settings)
    labels = torch.stack([s.gt_sem_seg.data[0] for s in samples]).long()
    probe_logits = torch.nn.functional.interpolate(model.probe(inter0), size=(32, 32), mode='bilinear',
                                                   align_corners=True)
    expected['loss_probe'] = torch.nn.functional.cross_entropy(probe_logits, labels)
    assert expected['loss_pos'] > 0 and expected['loss_neg'] > 0  # both gates select pairs
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-7, atol=1e-10,
                                   msg=lambda text, key=key: f'{key}: {text}')


def test_preprocessor_normalises_each_view_like_a_single_image():
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg())
    batch = two_view_batch(batch_size=2)
    views = model.data_preprocessor(copy.deepcopy(batch), training=True)['inputs']
    for index in (0, 1):
        single = dict(inputs=[x[3 * index:3 * index + 3] for x in batch['inputs']],
                      data_samples=copy.deepcopy(batch['data_samples']))
        expected = model.data_preprocessor(single, training=True)['inputs']
        assert torch.allclose(views[:, 3 * index:3 * index + 3], expected)
    with pytest.raises(ValueError, match='6-channel'):
        model.data_preprocessor(copy.deepcopy(batch), training=False)


def test_official_windows_cover_the_image_and_end_at_the_border():
    """IDDC's slide protocol (crop 224, stride 149) on mmseg's window grid: starts every stride, the last
    window moved back to end at the border."""
    def starts(size):
        return sorted({y1 for y1, _, _, _ in slide_windows(size, 224, 224, 149)})
    assert starts(640) == [0, 149, 298, 416]
    assert starts(224) == [0]
    assert starts(373) == [0, 149]


def test_slide_inference_matches_whole_on_one_window_and_flip_is_symmetric():
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(mode='slide', crop_size=(32, 32), stride=(24, 24), flip=True)).eval()
    image = torch.randn(1, 3, 32, 32)
    whole = copy.deepcopy(model)
    whole.test_cfg.update(mode='whole')
    assert torch.allclose(model.encode_decode(image, [{}]), whole.encode_decode(image, [{}]))
    # flip averaging makes the prediction of a mirrored image the mirror of the prediction
    assert torch.allclose(whole.encode_decode(image.flip(-1), [{}]), whole.encode_decode(image, [{}]).flip(-1),
                          atol=1e-6)
    # windows at 0 and 24 on a 56-pixel side: the overlap averages two windows' probabilities
    wide = torch.randn(1, 3, 32, 56)
    probs = model.encode_decode(wide, [{}])
    left, right = whole.encode_decode(wide[..., :32], [{}]), whole.encode_decode(wide[..., 24:], [{}])
    assert torch.allclose(probs[..., :24], left[..., :24])
    assert torch.allclose(probs[..., 24:32], (left[..., 24:] + right[..., :8]) / 2)
    assert torch.allclose(probs[..., 32:], right[..., 8:])
    # an image smaller than the window is enlarged first
    assert model.encode_decode(torch.randn(1, 3, 16, 24), [{}]).shape == (1, 3, 32, 48)


def test_whole_inference_aligns_padded_patch_grid():
    """36 px with 8 px patches: the backbone pads to 40, so the map is the padded image's map cut to 36."""
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg(flip=False)).eval()
    image = torch.randn(1, 3, 36, 36)
    with torch.no_grad():
        probs = model.encode_decode(image, [{}])
        padded = model.encode_decode(torch.nn.functional.pad(image, (0, 4, 0, 4)), [{}])
    assert probs.shape == (1, 3, 36, 36)
    assert torch.allclose(probs, padded[..., :36, :36], atol=1e-6)


def test_predict_returns_cluster_ids_at_original_size():
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg(num_clusters=5)).eval()
    sample = SegDataSample(metainfo=dict(img_shape=(32, 48), ori_shape=(40, 60)))
    with torch.no_grad():
        (result,) = model.predict(torch.randn(1, 3, 32, 48), [sample])
    assert result.pred_sem_seg.data.shape == (1, 40, 60)
    assert 0 <= int(result.pred_sem_seg.data.min()) and int(result.pred_sem_seg.data.max()) < 5
    assert torch.allclose(result.seg_logits.data.sum(0), torch.ones(40, 60), atol=1e-5)


@pytest.fixture(scope='module')
def potsdam_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('iddc') / 'potsdam'
    make_synthetic_potsdam(str(root), num_train=4, num_val=2, num_unlabeled=0, size=48, seed=5)
    return str(root)


def test_runner_trains_head_on_cpu(potsdam_root, tmp_path):
    """The Potsdam-3 config with a tiny ViT: a few iterations of training, then the Hungarian evaluation."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'iddc_vit-s16_potsdam3.py'))
    cfg.work_dir = str(tmp_path)
    cfg.model.backbone.update(arch=TINY_ARCH, patch_size=8, img_size=32, init_cfg=None)
    cfg.model.head.in_channels = 32
    cfg.model.test_cfg.update(crop_size=(32, 32), stride=(24, 24))
    cfg.model.data_preprocessor.size = (32, 32)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'AnisotropicRandomResize').min_size = 32
    find_transform(cfg.train_dataloader.dataset.pipeline, 'OverlappingCropPair').crop_size = 32
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
        cfg[loader].dataset.data_root = potsdam_root
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=2)
    cfg.param_scheduler[0].end = 3
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(cfg)
    snapshot = StateAtStart()
    runner.register_hook(snapshot)
    runner.train()
    after = runner.model.state_dict()
    assert any(not torch.equal(v, after[k]) for k, v in snapshot.state.items() if k.startswith('head.'))
    assert all(torch.equal(v, after[k]) for k, v in snapshot.state.items() if k.startswith('backbone.'))
    # logged by the validation at epoch 2: the same weights and data give the same Hungarian metrics
    validated = {name: runner.message_hub.get_scalar(f'val/{name}').current()
                 for name in ('hungarian/Acc', 'hungarian/mIoU')}
    metrics = runner.val_loop.run()
    assert set(metrics) == {'hungarian/Acc', 'hungarian/mIoU'}
    assert 0 <= metrics['hungarian/mIoU'] <= 100
    assert metrics == validated

    # cluster maps of unlabelled images through mmseg's inference API (what tools/vis_cluster.py uses)
    model = init_model(cfg, osp.join(str(tmp_path), 'epoch_2.pth'), device='cpu')
    image = osp.join(potsdam_root, 'img_dir', 'val', sorted(os.listdir(osp.join(potsdam_root, 'img_dir', 'val')))[0])
    clusters = inference_model(model, image).pred_sem_seg.data
    assert clusters.shape == (1, 48, 48) and int(clusters.max()) < 3
    # the same maps through the shared cluster visualiser
    config_path = str(tmp_path / 'iddc_tiny.py')
    cfg.dump(config_path)
    load_tool('vis_cluster').main([osp.join(str(tmp_path), 'epoch_2.pth'), image, '--seg-config', config_path,
                                   '--out-dir', str(tmp_path / 'vis'), '--device', 'cpu'])
    stem = osp.splitext(osp.basename(image))[0]
    written = cv2.imread(str(tmp_path / 'vis' / f'{stem}_clusters.png'), cv2.IMREAD_UNCHANGED)
    assert (written == clusters[0].numpy()).all()
