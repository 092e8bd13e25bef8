"""SDCluster with real Runners on CPU: pre-training -> conversion -> UperNet; official checkpoint layouts;
the cluster visualiser."""
import os.path as osp
from collections import OrderedDict

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from helpers.runner import StateAtStart, assert_loss_falls, assert_trained
from helpers.tools import REPO, load_tool
from rs_ssl_plugin.checkpoints.conversion import convert_checkpoint
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam

TINY = dict(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic') / 'potsdam'
    make_synthetic_potsdam(str(root), num_train=2, num_val=1, num_unlabeled=4, size=96, seed=5)
    return str(root)


def tiny_pretrain_config(data_root, work_dir):
    """8 iterations that learn: every batch holds all 4 images, the two views are large crops (scale 0.8-1) without
    colour transforms, and the LR is lower than the official one (whose first steps throw a tiny Swin far from its
    teacher). The distillation loss then falls by 0.2 to 1.8 (seeds 0-5); the slot contrast does not fall reliably
    this early, and in 4 iterations either rose as often as it fell."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py'))
    cfg.work_dir = work_dir
    cfg.model.backbone.update(TINY)
    cfg.model.neck.update(in_channels=128, hidden_channels=32, out_channels=16)
    cfg.model.prototypes.update(num_prototypes=8, dim=16)
    cfg.model.predictor.update(in_channels=16, hidden_channels=32, out_channels=16)
    cfg.optim_wrapper.type = 'OptimWrapper'  # no AMP on CPU
    cfg.optim_wrapper.pop('loss_scale')
    cfg.optim_wrapper.optimizer.lr = 5e-4
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False, pin_memory=False)
    cfg.train_dataloader.dataset.update(data_root=data_root, data_prefix='unlabeled')
    pipeline = cfg.train_dataloader.dataset.pipeline
    find_transform(pipeline, 'OverlappingMultiCrop').update(global_size=64, global_scale=(0.8, 1.0))
    find_transform(pipeline, 'PhotometricAugment').transforms = []
    cfg.train_cfg.max_epochs = 8
    cfg.param_scheduler[0].end = 8
    cfg.default_hooks.checkpoint.interval = 8
    cfg.default_hooks.logger.interval = 1
    cfg.pop('model_wrapper_cfg')
    return cfg


def tiny_upernet_config(data_root, backbone_path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_swin-s-os16_sdcluster_potsdam.py'))
    cfg.model.backbone.update(TINY)
    cfg.model.backbone.init_cfg.checkpoint = backbone_path
    cfg.model.decode_head.update(in_channels=[16, 32, 64, 128], channels=16)
    cfg.model.auxiliary_head.update(in_channels=64, channels=16)
    cfg.model.data_preprocessor.size = (64, 64)
    return cfg


def test_pretrain_convert_and_finetune(data_root, tmp_path):
    runner = Runner.from_cfg(tiny_pretrain_config(data_root, str(tmp_path / 'pretrain')))
    start = StateAtStart()
    runner.register_hook(start)
    runner.train()
    assert_loss_falls(runner, iterations=8, name='loss_sd')
    teacher = runner.model.teacher.module.backbone.state_dict()
    prefix = 'teacher.module.backbone.'
    # the intermediate-stage norms are not used by the loss (see the config's find_unused_parameters)
    assert_trained(teacher, {k[len(prefix):]: v for k, v in start.state.items() if k.startswith(prefix)}, prefix='',
                   unused=('norm0.', 'norm1.', 'norm2.'))
    checkpoint = str(tmp_path / 'pretrain' / 'epoch_8.pth')

    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    backbone_path = str(tmp_path / 'backbone.pth')
    seg_cfg = tiny_upernet_config(data_root, backbone_path)
    target = MODELS.build({k: v for k, v in seg_cfg.model.backbone.items() if k != 'init_cfg'})
    report = convert_checkpoint(checkpoint, backbone_path, 'sdcluster-swin', target_module=target)
    assert report.complete and not report.unexpected
    with pytest.raises(FileExistsError):
        convert_checkpoint(checkpoint, backbone_path, 'sdcluster-swin')

    segmentor = MODELS.build(seg_cfg.model)
    segmentor.init_weights()
    for key, value in teacher.items():  # the teacher branch was exported
        torch.testing.assert_close(segmentor.backbone.state_dict()[key], value)
    logits = segmentor.eval()(torch.rand(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 6, 16, 16)


def official_training_state_dict(tmp_path):
    """A state dict with the official training model's key names (encoder_q/k, projector_q/k, grouping_q/k,
    predictor_slot) made from a tiny model with known values."""
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    encoder = MODELS.build(dict(type='SwinTransformerOS16', **TINY))
    projector = MODELS.build(dict(type='GELUMLP', in_channels=128, hidden_channels=32, out_channels=16))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # every parameter random (no LayerNorm at 1), so that a key mapped to another shows
        for param in list(encoder.parameters()) + list(projector.parameters()):
            param.copy_(torch.randn(param.shape, generator=gen))
    state = OrderedDict()
    for branch, offset in (('q', 0.), ('k', 1.)):
        state.update((f'encoder_{branch}.{k}', v + offset) for k, v in encoder.state_dict().items())
        state.update((f'projector_{branch}.{k}', v + offset) for k, v in projector.state_dict().items())
        state[f'grouping_{branch}.prototype_embed.weight'] = torch.randn(8, 16) + offset
    state['predictor_slot.mlp.0.weight'] = torch.randn(32, 16)
    return encoder, state


def assert_same_tensors(converted, expected):
    """The same names and, for each, a tensor equal to its source (values, shape and dtype)."""
    assert sorted(converted) == sorted(expected)
    for key, value in expected.items():
        assert converted[key].dtype == value.dtype and torch.equal(converted[key], value), key


@pytest.mark.parametrize('wrap', ['raw', 'model', 'state_dict', 'module'])
def test_official_checkpoint_layouts_load_strictly(tmp_path, wrap):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    encoder, state = official_training_state_dict(tmp_path)
    original = OrderedDict(state)
    if wrap == 'module':
        state = OrderedDict(('module.' + k, v) for k, v in state.items())
    src = str(tmp_path / 'net.pt')
    torch.save(state if wrap in ('raw', 'module') else {wrap: state}, src)

    convert_checkpoint(src, str(tmp_path / 'swin.pth'), 'sdcluster-swin', target_module=encoder)
    converted = torch.load(str(tmp_path / 'swin.pth'))['state_dict']
    key = 'backbone.patch_embed.proj.weight'
    torch.testing.assert_close(converted[key],
                               state[[k for k in state if k.endswith('encoder_k.patch_embed.proj.weight')][0]])
    # every tensor is the teacher encoder's own (offset 1), under the same name
    teacher = {k: v for k, v in original.items() if k.startswith('encoder_k.')}
    assert_same_tensors(converted, {'backbone.' + k[len('encoder_k.'):]: v for k, v in teacher.items()})

    cluster_eval = MODELS.build(dict(
        type='ClusterEval', encoder=dict(type='SwinTransformerOS16', **TINY),
        projector=dict(type='GELUMLP', in_channels=128, hidden_channels=32, out_channels=16),
        assign=dict(type='ClusterPrototypes', num_prototypes=8, dim=16)))
    report = convert_checkpoint(src, str(tmp_path / 'ce.pth'), 'sdcluster-clustereval', target_module=cluster_eval,
                                prefix='')
    assert report.complete and not report.unexpected
    # the released ClusterEval.pt layout is what this writes: it converts to itself
    released = torch.load(str(tmp_path / 'ce.pth'))['state_dict']
    renames = (('encoder.', 'encoder_k.'), ('projector.', 'projector_k.'), ('assign.', 'grouping_k.'))
    assert_same_tensors(released, OrderedDict(
        (target + k[len(source):], v) for target, source in renames for k, v in original.items()
        if k.startswith(source)))
    torch.save(released, str(tmp_path / 'ClusterEval.pt'))
    convert_checkpoint(str(tmp_path / 'ClusterEval.pt'), str(tmp_path / 'ce2.pth'), 'sdcluster-clustereval',
                       target_module=cluster_eval, prefix='')
    assert_same_tensors(torch.load(str(tmp_path / 'ce2.pth'))['state_dict'], released)


def test_swin_release_and_wrong_file(tmp_path):
    init_default_scope('mmpretrain')
    encoder, state = official_training_state_dict(tmp_path)
    torch.save({k[len('encoder_k.'):]: v for k, v in state.items() if k.startswith('encoder_k.')},
               str(tmp_path / 'Swin-S.pt'))
    report = convert_checkpoint(str(tmp_path / 'Swin-S.pt'), str(tmp_path / 'out.pth'), 'sdcluster-swin',
                                target_module=encoder)
    assert report.complete
    released = {k[len('encoder_k.'):]: v for k, v in state.items() if k.startswith('encoder_k.')}
    assert_same_tensors(torch.load(str(tmp_path / 'out.pth'))['state_dict'],
                        {'backbone.' + k: v for k, v in released.items()})
    torch.save({'fc.weight': torch.zeros(2, 2)}, str(tmp_path / 'other.pt'))
    with pytest.raises(ValueError, match='no SDCluster encoder'):
        convert_checkpoint(str(tmp_path / 'other.pt'), str(tmp_path / 'o.pth'), 'sdcluster-swin')
    assert not osp.exists(tmp_path / 'o.pth')


def test_vissl_trunk_converter(tmp_path):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    resnet = MODELS.build(dict(type='ResNet', depth=18))
    gen = torch.Generator().manual_seed(0)  # every float tensor random, so that a key mapped to another shows
    weights = OrderedDict((k, torch.randn(v.shape, generator=gen) if v.is_floating_point() else v)
                          for k, v in resnet.state_dict().items())
    trunk = OrderedDict(('_feature_blocks.' + k, v) for k, v in weights.items())
    vissl = dict(phase_idx=3, classy_state_dict=dict(base_model=dict(model=dict(
        trunk=trunk, heads={'0.clf.0.weight': torch.zeros(2, 2)}))))
    torch.save(vissl, str(tmp_path / 'model_final_checkpoint.torch'))
    report = convert_checkpoint(str(tmp_path / 'model_final_checkpoint.torch'), str(tmp_path / 'r18.pth'),
                                'vissl-resnet', target_module=resnet)
    assert report.complete and not report.unexpected
    assert_same_tensors(torch.load(str(tmp_path / 'r18.pth'))['state_dict'],
                        {'backbone.' + k: v for k, v in weights.items()})  # the head is dropped


def test_vis_cluster_tool(tmp_path):
    main = load_tool('vis_cluster').main
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    config = tmp_path / 'sdc.py'
    config.write_text(
        "model = dict(backbone=dict(type='SwinTransformerOS16', embed_dim=16, depths=(2, 2, 2, 2), "
        "num_heads=(1, 2, 2, 4)), neck=dict(type='GELUMLP', in_channels=128, hidden_channels=32, "
        "out_channels=16), prototypes=dict(type='ClusterPrototypes', num_prototypes=8, dim=16))\n")
    model = MODELS.build(dict(type='ClusterEval', encoder=dict(type='SwinTransformerOS16', **TINY),
                              projector=dict(type='GELUMLP', in_channels=128, hidden_channels=32, out_channels=16),
                              assign=dict(type='ClusterPrototypes', num_prototypes=8, dim=16)))
    torch.save(model.state_dict(), str(tmp_path / 'ClusterEval.pt'))
    images = tmp_path / 'imgs'
    images.mkdir()
    cv2.imwrite(str(images / 'a.png'), (np.random.rand(70, 90, 3) * 255).astype(np.uint8))
    import rasterio
    from rasterio.transform import from_origin
    with rasterio.open(str(images / 'b.tif'), 'w', driver='GTiff', width=50, height=40, count=4, dtype='uint8',
                       crs='EPSG:32633', transform=from_origin(0, 0, 1, 1)) as dst:
        dst.write((np.random.rand(4, 40, 50) * 255).astype(np.uint8))
    out = tmp_path / 'out'
    args = [str(tmp_path / 'ClusterEval.pt'), str(images), '--out-dir', str(out), '--config', str(config),
            '--device', 'cpu']
    main(args)
    ids = cv2.imread(str(out / 'a_clusters.png'), cv2.IMREAD_UNCHANGED)
    assert ids.shape == (70, 90) and ids.max() < 8
    assert cv2.imread(str(out / 'b_overlay.png')).shape == (40, 50, 3)
    with pytest.raises(SystemExit, match='already exists'):
        main(args)
    main(args + ['--force', '--per-image-colors'])
    # without --config the official Swin-S is built, which this tiny checkpoint does not fit
    with pytest.raises(SystemExit, match=r'ClusterEval.pt does not fit ClusterEval: \d+ weights of the model are '
                                         r'missing .*Hint: .*default architecture .*pass --config'):
        main(args[:4] + ['--force', '--device', 'cpu'])


def test_cluster_colours_do_not_depend_on_the_cluster_count():
    from rs_ssl_plugin.visualization.cluster_maps import colorize_clusters, prototype_palette
    assert (prototype_palette(27) == prototype_palette(256)[:27]).all()
    ids = np.array([[0, 3], [3, 5]])
    fixed = colorize_clusters(ids, prototype_palette(8))
    assert (fixed[0, 1] == fixed[1, 0]).all() and (fixed[0, 0] != fixed[1, 1]).any()
    # official colouring: min-max over the ids present, so id 3 is red as a maximum and blue as a minimum
    as_max = colorize_clusters(np.array([[0, 3]]), per_image=True)[0, 1]
    as_min = colorize_clusters(np.array([[3, 5]]), per_image=True)[0, 0]
    assert as_max[2] > 100 > as_max[0] and as_min[0] > 100 > as_min[2]  # BGR
    with pytest.raises(ValueError, match='palette'):
        colorize_clusters(ids, prototype_palette(4))
