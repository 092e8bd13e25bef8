"""SDSH data pipeline, split, optimiser groups, schedules, a tiny CPU Runner run with evaluation, configs."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from test_sdsh_common import TINY_BACKBONE, build_tiny_sdsh, tiny_model_cfg, write_class_folders

import rs_ssl_plugin  # noqa: F401
from helpers.runner import StateAtStart
from helpers.tools import REPO, load_tool
from rs_ssl_plugin.datasets.pipeline_config import find_transform
from rs_ssl_plugin.methods.sdsh.datasets import RetrievalImageFolder, UCMercedRetrieval, split_class_folder
from rs_ssl_plugin.methods.sdsh.hooks import dinov2_cosine_schedule
from rs_ssl_plugin.methods.sdsh.optim_wrapper import sdsh_param_groups
from rs_ssl_plugin.methods.sdsh.views import BlockMaskGenerator, SDSHMultiCrop, sample_ibot_masks, sdsh_collate


def test_official_split_is_per_class_sorted(tmp_path):
    for name in ['b.png', 'a.png', 'c.tif', 'd.jpg', 'e.txt']:
        (tmp_path / 'zeta').mkdir(exist_ok=True)
        (tmp_path / 'zeta' / name).write_bytes(b'x')
    for name in ['1.png', '0.png']:
        (tmp_path / 'alpha').mkdir(exist_ok=True)
        (tmp_path / 'alpha' / name).write_bytes(b'x')
    classes, db, query = split_class_folder(str(tmp_path), 0.5)
    assert classes == ['alpha', 'zeta']
    assert [(osp.basename(p), c) for p, c in db] == [('0.png', 0), ('a.png', 1), ('b.png', 1)]
    assert [(osp.basename(p), c) for p, c in query] == [('1.png', 0), ('c.tif', 1), ('d.jpg', 1)]
    everything = RetrievalImageFolder(str(tmp_path), split='all', train_ratio=0.5)
    assert [everything.get_data_info(i)['is_query'] for i in range(len(everything))] == [False] * 3 + [True] * 3
    assert everything.metainfo['classes'] == ('alpha', 'zeta')
    with pytest.raises(ValueError, match='expected 21'):
        UCMercedRetrieval(str(tmp_path))


def test_class_count_error_names_the_config_key_and_value(tmp_path):
    """Your own class-folder set with another class count: the error says what to set, and to what."""
    root = write_class_folders(tmp_path / 'own', num_classes=2, per_class=2)
    with pytest.raises(ValueError, match=r'has 2 class folders, expected 21 .* expected_num_classes=2 .*'
                                         r'--cfg-options train_dataloader\.dataset\.expected_num_classes=2 '
                                         r'val_dataloader\.dataset\.expected_num_classes=2 '
                                         r'test_dataloader\.dataset\.expected_num_classes=2'):
        UCMercedRetrieval(root)


def test_multicrop_views_and_blur_switch():
    img = np.random.default_rng(0).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    out = SDSHMultiCrop(global_size=28, local_size=14, num_local=3)(dict(img=img))
    assert [v.shape for v in out['img']] == [(28, 28, 3)] * 2 + [(14, 14, 3)] * 3
    assert SDSHMultiCrop().blur_probs == (0.0, 0.9, 0.5)
    assert SDSHMultiCrop(corrected_blur=True).blur_probs == (1.0, 0.1, 0.5)
    assert SDSHMultiCrop().global1_extra.p == 0.0 and SDSHMultiCrop().global2_extra.transforms[0].p == 0.9


def test_ibot_masks_are_stratified_blocks():
    import random
    random.seed(0)
    masks = sample_ibot_masks(8, (16, 16), 0.5, (0.1, 0.6), BlockMaskGenerator((16, 16), max_patches=128))
    counts = sorted(int(m.sum()) for m in masks)
    assert counts[:4] == [0, 0, 0, 0] and all(c > 0 for c in counts[4:])
    assert max(counts) <= int(256 * 0.6)
    # masked crops i get ratios from the i-th slice of [0.1, 0.6]: the largest is at least 0.1 + 3 * 0.125
    assert max(counts) >= 0.4 * 256 * 0.9


def test_collate_puts_two_masks_per_image():
    from mmpretrain.structures import DataSample
    batch = [dict(inputs=[torch.zeros(3, 28, 28)] * 2 + [torch.zeros(3, 14, 14)] * 2, data_samples=DataSample())
             for _ in range(3)]
    out = sdsh_collate(batch, mask_grid=(4, 4))
    assert len(out['inputs']) == 4 and out['inputs'][0].shape == (3, 3, 28, 28)
    assert out['data_samples'][0].mask.shape == (2, 4, 4)
    assert int(sum(bool(s.mask[c].any()) for s in out['data_samples'] for c in range(2))) <= 3


def test_param_groups_follow_dinov2_multipliers():
    model = build_tiny_sdsh()
    groups = sdsh_param_groups(model.student_modules(), layer_decay=0.9, patch_embed_lr_mult=0.2)
    by_param = {id(p): g for g in groups for p in g['params']}
    bb = model.backbone
    num = len(bb.layers)  # 2

    def settings(param):
        g = by_param[id(param)]
        return g['lr_mult'], g['wd_mult'], g['is_last_layer'], g['module']

    assert settings(bb.patch_embed.projection.weight) == pytest.approx((0.9 ** (num + 1) * 0.2, 1.0, False,
                                                                        'backbone'))
    assert settings(bb.pos_embed)[:2] == pytest.approx((0.9 ** (num + 1), 1.0))
    assert settings(bb.layers[0].attn.qkv.weight)[:2] == pytest.approx((0.9 ** num, 1.0))
    assert settings(bb.layers[1].attn.qkv.bias)[:2] == pytest.approx((0.9, 0.0))
    assert settings(bb.layers[1].ln1.weight)[:2] == pytest.approx((0.9, 0.0))
    assert settings(bb.layers[1].attn.gamma1.weight)[:2] == pytest.approx((0.9, 0.0))
    assert settings(bb.ln1.weight)[:2] == pytest.approx((1.0, 0.0))
    assert settings(bb.hash_layer[0].weight)[:2] == pytest.approx((1.0, 1.0))
    assert settings(bb.pool_global.norm.weight)[:2] == pytest.approx((1.0, 0.0))
    last = model.dino_head.last_layer.parametrizations.weight.original1
    assert settings(last) == (1.0, 1.0, True, 'dino_head')
    assert not any(p is q for g in groups for p in g['params'] for q in model.teacher.parameters())
    assert sum(len(g['params']) for g in groups) == sum(
        1 for m in model.student_modules().values() for p in m.parameters())


def test_teacher_starts_as_student_and_follows_by_ema():
    model = build_tiny_sdsh()
    for name, module in model.student_modules().items():
        for (key, s), t in zip(module.state_dict().items(), model.teacher[name].state_dict().values()):
            assert torch.equal(s, t), key
    assert not any(p.requires_grad for p in model.teacher.parameters())
    with torch.no_grad():
        for p in model.student_modules()['backbone'].parameters():
            p.add_(1.0)
    student = [p.clone() for p in model.backbone.parameters()]
    teacher = [p.clone() for p in model.teacher.backbone.parameters()]
    model.update_teacher(0.9)
    for s, t, new in zip(student, teacher, model.teacher.backbone.parameters()):
        assert torch.allclose(new, 0.9 * t + 0.1 * s, atol=1e-6)


def test_dinov2_cosine_schedule():
    s = dinov2_cosine_schedule(1.0, 0.0, 10, warmup_iters=3)
    assert s[:3].tolist() == [0.0, 0.5, 1.0]  # linspace includes both ends
    assert s[3] == pytest.approx(1.0) and s[-1] == pytest.approx(0.5 * (1 + np.cos(np.pi * 6 / 7)))
    temp = dinov2_cosine_schedule(0.07, 0.07, 30, 30, 0.04)
    assert temp[0] == pytest.approx(0.04) and temp[-1] == pytest.approx(0.07) and len(temp) == 30


def test_per_module_clipping():
    from mmengine.optim import build_optim_wrapper
    model = build_tiny_sdsh()
    wrapper = build_optim_wrapper(model, dict(type='SDSHOptimWrapper', constructor='SDSHOptimWrapperConstructor',
                                              optimizer=dict(type='AdamW', lr=0.1), clip_grad=dict(max_norm=1.0)))
    for module in model.student_modules().values():
        for p in module.parameters():
            p.grad = torch.full_like(p, 10.0)
    wrapper._clip_grad()
    for module in model.student_modules().values():
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in module.parameters()]))
        assert float(norm) == pytest.approx(1.0, rel=1e-4)


def tiny_runner_cfg(root, work_dir, max_iters=4):
    eval_pipeline = [dict(type='LoadImageFromFile'),
                     dict(type='MultiView', num_views=1, transforms=[[
                         dict(type='ResizeEdge', scale=32, edge='short', backend='pillow', interpolation='bicubic'),
                         dict(type='CenterCrop', crop_size=28)]]),
                     dict(type='PackInputs', algorithm_keys=('is_query', ))]
    train_pipeline = [dict(type='LoadImageFromFile'),
                      dict(type='SDSHMultiCrop', global_size=28, local_size=14, num_local=2),
                      dict(type='PackInputs')]
    return dict(
        model=tiny_model_cfg(loss_weights=dict(koleo=0.01)),
        work_dir=str(work_dir),
        train_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
                              collate_fn=dict(type='sdsh_collate', mask_grid=(4, 4)),
                              dataset=dict(type='RetrievalImageFolder', data_root=root, split='database',
                                           train_ratio=0.5, pipeline=train_pipeline)),
        val_dataloader=dict(batch_size=4, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                            collate_fn=dict(type='default_collate'),
                            dataset=dict(type='RetrievalImageFolder', data_root=root, split='all', train_ratio=0.5,
                                         pipeline=eval_pipeline)),
        val_evaluator=dict(type='RetrievalMetric', map_topk=(2, ), precision_at=(1, )),
        val_cfg=dict(type='ValLoop'),
        optim_wrapper=dict(type='SDSHOptimWrapper', constructor='SDSHOptimWrapperConstructor',
                           optimizer=dict(type='AdamW', lr=0., betas=(0.9, 0.999)), clip_grad=dict(max_norm=3.0)),
        custom_hooks=[dict(type='SDSHScheduleHook', epoch_length=2, warmup_epochs=1, warmup_teacher_temp_epochs=1)],
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters)),
        log_processor=dict(by_epoch=False),
        default_scope='mmpretrain',
        randomness=dict(seed=0),
        experiment_name=f'sdsh_{osp.basename(str(work_dir))}')


def test_runner_trains_and_evaluates_on_cpu(tmp_path):
    from mmengine.runner import Runner
    root = write_class_folders(tmp_path / 'data', num_classes=3, per_class=4)
    runner = Runner.from_cfg(Config(tiny_runner_cfg(root, tmp_path / 'work')))
    model = runner.model
    start = StateAtStart()
    runner.register_hook(start)
    runner.train()
    # logged by the validation at iteration 4: the same weights and data give the same metrics
    validated = {name: runner.message_hub.get_scalar(f'val/{name}').current()
                 for name in ('retrieval/mAP', 'retrieval/mAP@2', 'retrieval/P@1')}
    metrics = runner.val_loop.run()
    assert set(metrics) == {'retrieval/mAP', 'retrieval/mAP@2', 'retrieval/P@1'}
    assert 0.0 <= metrics['retrieval/mAP'] <= 1.0
    assert metrics == validated
    # the student trained and the teacher (evaluated) followed it
    for prefix in ('backbone.', 'teacher.backbone.'):
        moved = [not torch.equal(v, start.state[k]) for k, v in model.state_dict().items()
                 if k.startswith(prefix) and v.is_floating_point()]
        assert moved and any(moved), prefix
    momentum = runner.message_hub.get_scalar('train/teacher_momentum').current()
    assert 0.992 < momentum < 1.0  # cosine 0.992 -> 1 over 4 iterations, value of the last one
    groups = runner.optim_wrapper.optimizer.param_groups
    last = [g for g in groups if g['is_last_layer']]
    assert last and all(g['lr'] > 0 for g in last)  # frozen during epoch 1 (iterations 0-1) only
    assert model.teacher_temp == pytest.approx(0.07)
    assert osp.isfile(tmp_path / 'work' / 'iter_4.pth')


def load_retrieve_tool():
    return load_tool('retrieve')


def test_retrieve_tool_eval_saves_pr_curve(tmp_path):
    root = write_class_folders(tmp_path / 'data', num_classes=2, per_class=4)
    cfg = tiny_runner_cfg(root, tmp_path / 'work')
    cfg.update(test_dataloader=cfg['val_dataloader'], test_evaluator=cfg['val_evaluator'],
               test_cfg=dict(type='TestLoop'))
    Config(cfg).dump(str(tmp_path / 'cfg.py'))
    torch.save(dict(state_dict=build_tiny_sdsh().state_dict()), tmp_path / 'ckpt.pth')
    metrics = load_retrieve_tool().main(['eval', str(tmp_path / 'cfg.py'), str(tmp_path / 'ckpt.pth'),
                                         '--work-dir', str(tmp_path / 'eval'), '--pr-curve',
                                         str(tmp_path / 'pr.png')])
    assert 0 <= metrics['retrieval/mAP'] <= 1 and (tmp_path / 'pr.png').is_file()


def test_retrieve_tool_search(tmp_path, capfd):
    root = write_class_folders(tmp_path / 'data', num_classes=2, per_class=3)
    model = build_tiny_sdsh()
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'ckpt.pth')
    cfg = Config(dict(model=tiny_model_cfg(), default_scope='mmpretrain', test_dataloader=dict(dataset=dict(
        pipeline=tiny_runner_cfg(root, tmp_path)['val_dataloader']['dataset']['pipeline']))))
    cfg.dump(str(tmp_path / 'cfg.py'))
    retrieve = load_retrieve_tool()
    query = osp.join(root, 'class_1', 'img_00.png')
    out = tmp_path / 'img_00_nearest.png'  # <query name>_nearest.png under --show-dir
    results = retrieve.main(['search', str(tmp_path / 'cfg.py'), str(tmp_path / 'ckpt.pth'), '--folder', root,
                             '--query', query, '--topk', '3', '--show-dir', str(tmp_path),
                             '--save-index', str(tmp_path / 'index.pth')])
    assert results[0] == (query, 0.0) and len(results) == 3 and out.is_file()
    printed = capfd.readouterr().out
    assert f'indexing 6 images under {root}' in printed and '6/6' in printed  # a progress bar while indexing
    with pytest.raises(SystemExit, match='already exists'):
        retrieve.main(['search', str(tmp_path / 'cfg.py'), str(tmp_path / 'ckpt.pth'), '--load-index',
                       str(tmp_path / 'index.pth'), '--query', query, '--show-dir', str(tmp_path)])


@pytest.mark.parametrize('path', sorted(glob.glob(osp.join(REPO, 'configs', 'sdsh_*bit.py'))),
                         ids=lambda p: osp.basename(p))
def test_sdsh_configs(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports == dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)
    bits = int(osp.basename(path).split('-')[-1].replace('bit.py', ''))
    ucmd = 'ucmd' in path
    assert cfg.model.backbone.hash_bits == bits
    assert cfg.train_dataloader.dataset.type == ('UCMercedRetrieval' if ucmd else 'AIDRetrieval')
    epoch_length = 30 if ucmd else 80
    assert cfg.train_cfg.max_iters == 100 * epoch_length and cfg.train_cfg.val_interval == epoch_length
    assert cfg.custom_hooks[0].epoch_length == epoch_length and cfg.train_dataloader.batch_size == 64
    assert cfg.model.loss_weights == dict(dino=1.0, ibot=1.0, koleo=0.0, hash_reg=0.01)
    # build with the real backbone but small heads and no checkpoint
    init_default_scope(cfg.default_scope)
    from mmpretrain.registry import MODELS
    model_cfg = cfg.model
    model_cfg.backbone.init_cfg = None
    model_cfg.dino_head.update(num_prototypes=32, hidden_channels=16)
    model_cfg.ibot_head.update(num_prototypes=32, hidden_channels=16)
    if bits != 64:
        return  # one build per dataset is enough; the others differ only in hash_bits
    model = MODELS.build(model_cfg)
    assert model.dino_head.mlp[0].in_features == bits and model.backbone.pool_local.num_patches == 49
    assert model.backbone.pool_global.num_patches == 256 and model.backbone.layers[0].attn.qkv.in_features == 384


def test_shipped_config_runs_with_a_tiny_vit(tmp_path):
    """The UCMD config's pipelines, collate, hooks and optimiser run end to end (tiny ViT, 2 iterations)."""
    from mmengine.runner import Runner
    root = write_class_folders(tmp_path / 'data', num_classes=2, per_class=3)
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdsh_vit-s14_ucmd-64bit.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.update(data_root=root, expected_num_classes=None)
        cfg[loader].update(batch_size=2, num_workers=0, persistent_workers=False)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'SDSHMultiCrop').num_local = 2
    cfg.model.backbone.update(arch=TINY_BACKBONE['arch'], init_cfg=None)
    for head in ('dino_head', 'ibot_head'):
        cfg.model[head].update(num_prototypes=32, hidden_channels=16)
    cfg.custom_hooks[0].epoch_length = 1
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = 'sdsh_shipped_config'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert 0 <= runner.message_hub.get_scalar('val/retrieval/mAP').current() <= 1
    assert runner.message_hub.get_scalar('train/base_lr').current() > 0
