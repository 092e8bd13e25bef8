"""Learning curves on real imagery: what each method's pre-training is worth after a fixed number of
iterations, scored at several points of one run (docs/benchmarks.md#learning-curves-on-real-imagery).

Every method pre-trains from scratch on the same unlabeled real images (the NEON orthophoto crops cut into
256 px tiles, plus the training half of UC Merced) for ``--iterations`` iterations with one schedule for all:
a linear warm-up over ``--warmup-iters`` then a cosine decay to zero at the last iteration. The backbone is
saved at each ``--eval-at`` iteration and scored frozen with the functions of tools/eval_backbone.py:

- weighted kNN (k=20, T=0.07) and a linear probe on UC Merced (16 classes, seeded 50 % split per class;
  the test half is never seen in pre-training);
- the 1x1 segmentation probe on the real ISPRS Potsdam crop (6 classes, 128 px tiles) and the LoveDA tiles
  (7 classes, 256 px tiles), each split into training / test tiles by a seeded draw.

Methods: the baselines, drawn as horizontal lines (random init of ResNet-18 and of the small OS16 Swin;
`random_r18_bn`, the random ResNet-18 with BatchNorm statistics averaged over 20 pool batches and no gradient
step, which separates what BatchNorm statistics alone give from what training learns), mmpretrain's stock
SimCLR (its SimCLR / NonLinearNeck / ContrastiveHead T=0.1, LARS 0.3 x batch/256 as its config), FALSE with the
released head (Linear -> Linear, one linear map) and with the non-linear BatchNorm head (Linear -> BN -> ReLU ->
Linear), FALSE's CPU-scale recipe of the demo (BN head, temperature 0.1, LARC peak LR 4.8 at any batch;
docs/false.md#cpu-scale-recipe), all on ResNet-18 with the SimCLR views, and SDCluster on a small OS16 Swin
(embed 48, depths 2-2-2-2) with its overlapping views. Several seeds give the mean and the spread.

    python bench/real_data_probe.py --iterations 2000 --eval-at 0 250 500 1000 2000 --seeds 0 1 2
    python bench/real_data_probe.py --iterations 4 --eval-at 0 4 --seeds 0 --ucm-per-class 10   # smoke test

Each (method, seed) run keeps its scores in <work-dir>/<method>_seed<seed>/scores.json and is not run again
while that file exists with the same settings, so a long comparison can be spread over several calls;
``--report-only`` then writes the results of every stored run without training anything. Writes
<work-dir>/results.json (every score), results.md (mean +- std per method and iteration) and
learning_curves.png (score against iterations, one line per method, the baselines as horizontal lines).
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import nn

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from rs_ssl_plugin.checkpoints.export import save_state_dict  # noqa: E402
from rs_ssl_plugin.datasets.checks import read_rgb_image  # noqa: E402
from rs_ssl_plugin.datasets.class_folders import list_class_folder, seeded_split  # noqa: E402
from rs_ssl_plugin.evaluation.backbone_probes import (  # noqa: E402
    SegProbeData,
    SegSample,
    classification_features,
    knn_scores,
    linear_scores,
    seg_probe_scores,
)
from rs_ssl_plugin.evaluation.features import FeatureCache, build_frozen_backbone, resized_rgb  # noqa: E402
from rs_ssl_plugin.visualization.legend import save_figure  # noqa: E402

RESNET18 = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
SMALL_SWIN = dict(type='SwinTransformerOS16', embed_dim=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24),
                  window_size=7, drop_path_rate=0.1)
PREPROCESSOR = dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    to_rgb=True)
BASELINES = ('random_r18', 'random_r18_bn', 'random_swin')
TRAINED = ('simclr', 'false_linear', 'false_bn', 'false_cpu', 'sdcluster')
METHODS = BASELINES + TRAINED
LABELS = dict(random_r18='random init, ResNet-18', random_r18_bn='random init, BN statistics of the pool',
              random_swin='random init, small OS16 Swin', simclr='mmpretrain SimCLR',
              false_linear='FALSE, released linear head', false_bn='FALSE, BN non-linear head',
              false_cpu='FALSE, CPU-scale recipe',
              sdcluster='SDCluster, small OS16 Swin')
SCORES = dict(ucm_knn_top1='UC Merced kNN top-1 (%)', ucm_linear_top1='UC Merced linear top-1 (%)',
              potsdam_probe_mIoU='Potsdam 1x1 probe mIoU (%)', loveda_probe_mIoU='LoveDA 1x1 probe mIoU (%)')
POTSDAM_CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')
LOVEDA_CLASSES = ('background', 'building', 'road', 'water', 'barren', 'forest', 'agricultural')
# what a stored run depends on: a run is reused only while these settings are the same
RUN_SETTINGS = ('iterations', 'eval_at', 'warmup_iters', 'batch_size', 'view_size', 'amp', 'channels_last',
                'eval_size', 'ucm_per_class', 'seg_pixels')


class BackboneSnapshotHook(Hook):
    """Saves the backbone as ``backbone_iter<N>.pth`` in the work dir before training (``N=0``, if asked) and
    after each iteration ``N`` of ``iterations``."""
    priority = 'VERY_LOW'

    def __init__(self, iterations, method: str):
        self.iterations = set(iterations)
        self.method = method
        self.saved = {}

    def save(self, runner, iteration: int) -> None:
        """Write the backbone's weights (``backbone.*`` keys, the layout tools/eval_backbone.py reads)."""
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        path = osp.join(runner.work_dir, f'backbone_iter{iteration}.pth')
        save_state_dict({f'backbone.{k}': v for k, v in model.backbone.state_dict().items()}, path,
                        dict(method=self.method, iterations=iteration))
        self.saved[iteration] = path

    def before_train(self, runner) -> None:
        """The random initialisation the run starts from."""
        if 0 in self.iterations:
            self.save(runner, 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """The backbone after each requested iteration."""
        if runner.iter + 1 in self.iterations:
            self.save(runner, runner.iter + 1)


def simclr_views(size):
    """SimCLR's view pipeline (FALSE's too) at ``size`` px."""
    return [
        dict(type='RandomResizedCrop', scale=size, backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply',
             transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)], prob=0.8),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
    ]


def warmup_cosine(iterations, warmup_iters):
    """Linear warm-up from 1 % over ``warmup_iters``, then cosine to zero at ``iterations``: the run's length is
    known, so the learning rate ends at the end of the budget."""
    warmup_iters = min(warmup_iters, iterations - 1)
    return [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup_iters),
            dict(type='CosineAnnealingLR', T_max=iterations - warmup_iters, eta_min=0.0, by_epoch=False,
                 begin=warmup_iters, end=iterations)]


def method_model(method):
    """The model config node of a trained method."""
    if method == 'simclr':
        model = dict(type='SimCLR', data_preprocessor=PREPROCESSOR,
                     backbone=dict(RESNET18, zero_init_residual=True),
                     neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=512, out_channels=128,
                               num_layers=2, with_avg_pool=True),
                     head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1))
    elif method.startswith('false'):
        head = dict(with_relu=False) if method == 'false_linear' else dict(with_relu=True, norm_cfg=dict(type='BN1d'))
        model = dict(type='FALSE', data_preprocessor=PREPROCESSOR, backbone=RESNET18,
                     neck=dict(type='LinearProjectionNeck', in_channels=512, hid_channels=512, out_channels=128,
                               **head),
                     head=dict(type='FALSEHead', temperature=0.1 if method == 'false_cpu' else 0.5,
                               confidence_weight=1.0, positive_threshold=0.9))
    elif method == 'sdcluster':
        model = dict(type='SDCluster', data_preprocessor=PREPROCESSOR, backbone=SMALL_SWIN,
                     neck=dict(type='GELUMLP', in_channels=384, hidden_channels=1024, out_channels=128, dense=True),
                     prototypes=dict(type='ClusterPrototypes', num_prototypes=64, dim=128),
                     predictor=dict(type='GELUMLP', in_channels=128, hidden_channels=1024, out_channels=128,
                                    dense=False))
    else:
        raise ValueError(f'{method!r} is not a trained method; choose from {TRAINED}')
    return model


def method_optimizer(method, batch):
    """The optimiser of ``method`` as its own config scales it to ``batch`` images."""
    if method == 'simclr':
        return dict(optimizer=dict(type='LARS', lr=0.3 * batch / 256, momentum=0.9, weight_decay=1e-6),
                    paramwise_cfg=dict(custom_keys={'bn': dict(decay_mult=0, lars_exclude=True),
                                                    'bias': dict(decay_mult=0, lars_exclude=True),
                                                    'downsample.1': dict(decay_mult=0, lars_exclude=True)}))
    if method.startswith('false'):  # the CPU-scale recipe keeps the paper's peak LR at any batch
        lr = 4.8 if method == 'false_cpu' else 4.8 * batch / 256
        return dict(paramwise_cfg=dict(norm_decay_mult=0.0),
                    optimizer=dict(type='LARC', lr=lr, momentum=0.9, weight_decay=1e-6))
    return dict(optimizer=dict(type='AdamW', lr=1.25e-3, weight_decay=0.05))


def method_pipeline(method, view_size):
    """The loader pipeline of ``method``: two SimCLR views, or SDCluster's overlapping views (+16 px)."""
    if method != 'sdcluster':
        return [dict(type='CheckedLoadImageFromFile'),
                dict(type='MultiView', num_views=2, transforms=[simclr_views(view_size)]),
                dict(type='PackInputs')]
    return [dict(type='CheckedLoadImageFromFile'),
            dict(type='OverlappingMultiCrop', num_global=2, num_local=0, global_size=view_size + 16,
                 global_scale=(0.25, 1.0), min_intersection=0.01),
            dict(type='RandomFlipViews', prob=0.5),
            dict(type='ForEachView', transforms=simclr_views(view_size + 16)[2:]),
            dict(type='PackInputs', algorithm_keys=['gc_bboxes', 'otc_bboxes', 'flip_flags'])]


def method_config(method, args, seed):
    """The pre-training config of ``method`` on the unlabeled pool: model, optimiser (bfloat16 autocast with
    ``args.amp``, channels-last weights with ``args.channels_last``), views, ``args.iterations`` iterations under
    :func:`warmup_cosine`."""
    optim = dict(type='OptimWrapper', **method_optimizer(method, args.batch_size))
    if args.amp:
        optim.update(type='MixedPrecisionOptimWrapper', dtype='bfloat16')
    return Config(dict(
        default_scope='mmpretrain', custom_imports=dict(imports=['rs_ssl_plugin'], allow_failed_imports=False),
        model=method_model(method), optim_wrapper=optim,
        train_dataloader=dict(batch_size=args.batch_size, num_workers=args.workers,
                              persistent_workers=args.workers > 0, drop_last=True,
                              sampler=dict(type='InfiniteSampler', shuffle=True),
                              collate_fn=dict(type='default_collate'),
                              dataset=dict(type='UnlabeledImageFolder', data_root=args.pool,
                                           pipeline=method_pipeline(method, args.view_size))),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=args.iterations),
        param_scheduler=warmup_cosine(args.iterations, args.warmup_iters),
        default_hooks=dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=20),
                           param_scheduler=dict(type='ParamSchedulerHook'),
                           checkpoint=dict(type='CheckpointHook', interval=10**9, save_last=False)),
        custom_hooks=[dict(type='SSLMonitorHook', interval=max(10, args.iterations // 10))]
        + ([dict(type='ChannelsLastHook')] if args.channels_last else []),
        log_processor=dict(by_epoch=False), env_cfg=dict(cudnn_benchmark=False),
        randomness=dict(seed=seed)))


def backbone_node(method):
    """The backbone config node a method trains (what its snapshots load into)."""
    if method in ('sdcluster', 'random_swin'):
        return SMALL_SWIN
    return dict(RESNET18, zero_init_residual=True) if method == 'simclr' else RESNET18


def backbone_only_config(path, backbone):
    """Write a backbone-only config (what tools/eval_backbone.py reads) for ``backbone``."""
    with open(path, 'w') as f:
        f.write(f"default_scope = 'mmpretrain'\nbackbone = {backbone!r}\ndata_preprocessor = {PREPROCESSOR!r}\n")
    return path


def pretrain(method, args, seed, run_dir):
    """Train ``method`` for ``args.iterations``; ``({iteration: backbone weights}, seconds per iteration)``."""
    cfg = method_config(method, args, seed)
    cfg.work_dir = run_dir
    runner = Runner.from_cfg(cfg)
    snapshots = BackboneSnapshotHook(args.eval_at, method)
    runner.register_hook(snapshots)
    start = time.perf_counter()
    runner.train()
    return snapshots.saved, (time.perf_counter() - start) / args.iterations


def random_with_pool_statistics(args, run_dir, seed, batches=20):
    """Random-init ResNet-18 whose BatchNorm running statistics are the average over ``batches`` batches of
    pool images (no gradient step): the part of any short training's gain that BatchNorm alone gives."""
    config = backbone_only_config(osp.join(run_dir, 'backbone_config.py'), RESNET18)
    backbone = build_frozen_backbone(config, 'random', seed=seed)
    module = backbone.module
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_running_stats()
            layer.momentum = None  # cumulative average over the batches
    paths = sorted(glob.glob(osp.join(args.pool, '*')))
    order = np.random.default_rng(seed).permutation(len(paths))
    module.train()
    with torch.no_grad():
        for b in range(batches):
            chosen = [paths[order[(b * args.batch_size + i) % len(paths)]] for i in range(args.batch_size)]
            module(torch.stack([backbone.preprocessing(resized_rgb(p, args.view_size)) for p in chosen]))
    weights = osp.join(run_dir, 'backbone.pth')
    save_state_dict({f'backbone.{k}': v for k, v in module.state_dict().items()}, weights,
                    dict(method='random_r18_bn', batches=batches))
    return weights


def tile(image, label, size):
    """``(image tile, label tile)`` pairs of non-overlapping ``size`` squares covering the image."""
    for y in range(0, image.shape[0] - size + 1, size):
        for x in range(0, image.shape[1] - size + 1, size):
            yield image[y:y + size, x:x + size], label[y:y + size, x:x + size]


def prepare_data(args):
    """Unlabeled pre-training pool, UC Merced split and the two segmentation sets (tiles under work_dir)."""
    classes, files = list_class_folder(osp.join(args.data_dir, 'ucmerced16'))
    files = [f[:args.ucm_per_class] for f in files]
    ucm_train, ucm_test = seeded_split(files, 0.5, seed=0)
    pool = osp.join(args.work_dir, 'pool')
    os.makedirs(pool, exist_ok=True)
    for path in sorted(glob.glob(osp.join(args.data_dir, 'neon_aerial', '*.png'))):
        image = read_rgb_image(path)
        for i, (crop, _) in enumerate(tile(image, image[..., 0], min(256, *image.shape[:2]))):
            cv2.imwrite(osp.join(pool, f'neon_{osp.splitext(osp.basename(path))[0]}_{i}.png'), crop[..., ::-1])
    for path, _ in ucm_train:
        target = osp.join(pool, 'ucm_' + osp.basename(path))
        if not osp.lexists(target):
            os.symlink(osp.abspath(path), target)
    seg = {}
    crops = osp.join(args.data_dir, 'isprs_loveda_crops')
    for name, folder, classes_, size in (('potsdam', 'pseudo_potsdam_dataset', POTSDAM_CLASSES, 128),
                                         ('loveda', 'pseudo_loveda_dataset', LOVEDA_CLASSES, 256)):
        samples = []
        out = osp.join(args.work_dir, 'seg_tiles', name)
        os.makedirs(out, exist_ok=True)
        for img_path in sorted(glob.glob(osp.join(crops, folder, 'img_dir', '*.png'))):
            image = read_rgb_image(img_path)
            label = cv2.imread(img_path.replace('img_dir', 'ann_dir'), cv2.IMREAD_UNCHANGED)
            stem = osp.splitext(osp.basename(img_path))[0]
            for i, (img_tile, label_tile) in enumerate(tile(image, label, size)):
                img_out, ann_out = osp.join(out, f'{stem}_{i}.png'), osp.join(out, f'{stem}_{i}_label.png')
                cv2.imwrite(img_out, img_tile[..., ::-1])
                cv2.imwrite(ann_out, label_tile)
                samples.append(SegSample(img_out, ann_out, reduce_zero_label=True))
        order = np.random.default_rng(0).permutation(len(samples))
        cut = int(round(0.75 * len(samples)))
        seg[name] = SegProbeData(classes_, [samples[i] for i in sorted(order[:cut])],
                                 [samples[i] for i in sorted(order[cut:])])
    return pool, (classes, ucm_train, ucm_test), seg


def evaluate(config, weights, seed, data, args, cache):
    """kNN, linear and the two segmentation probes of one backbone (functions of tools/eval_backbone.py)."""
    classes, train, test = data['ucm']
    scores = {}
    # every stage for the segmentation probe; the pooled features read the last one, as eval_backbone's
    backbone = build_frozen_backbone(config, weights, seed=seed, multi_scale=True)
    features = classification_features(backbone, train, test, args.eval_size, 64, cache, progress=False)
    scores['ucm_knn_top1'] = knn_scores(features, classes)['metrics']['top1']
    scores['ucm_linear_top1'] = linear_scores(features, classes, seed=seed)['metrics']['top1']
    for name in ('potsdam', 'loveda'):
        result = seg_probe_scores(backbone, data[name], max_pixels=args.seg_pixels, seed=seed, cache=cache,
                                  progress=False)
        scores[f'{name}_probe_mIoU'] = result['metrics']['mIoU']
    return scores


def stored_scores(method, seed, args):
    """The stored scores of (``method``, ``seed``) when they were made with the current settings, else None."""
    stored_path = osp.join(args.work_dir, f'{method}_seed{seed}', 'scores.json')
    if not osp.isfile(stored_path):
        return None
    with open(stored_path) as f:
        stored = json.load(f)
    if stored['settings'] != {key: getattr(args, key) for key in RUN_SETTINGS}:
        return None
    print(f'{method} seed {seed}: scores of the earlier run in {stored_path}', flush=True)
    return stored


def run_method(method, seed, args, data, cache):
    """Scores of one (method, seed): ``{'curve': [{'iteration', 'scores'}...], 'seconds_per_iter'}``, stored in
    its run folder and read from there when the settings are unchanged."""
    stored = stored_scores(method, seed, args)
    if stored:
        return stored
    run_dir = osp.join(args.work_dir, f'{method}_seed{seed}')
    stored_path = osp.join(run_dir, 'scores.json')
    settings = {key: getattr(args, key) for key in RUN_SETTINGS}
    os.makedirs(run_dir, exist_ok=True)
    seconds_per_iter = 0.0
    if method == 'random_r18_bn':
        snapshots = {0: random_with_pool_statistics(args, run_dir, seed)}
    elif method in BASELINES:
        snapshots = {0: 'random'}
    else:
        snapshots, seconds_per_iter = pretrain(method, args, seed, run_dir)
    config = backbone_only_config(osp.join(run_dir, 'backbone_config.py'), backbone_node(method))
    curve = [dict(iteration=iteration, scores=evaluate(config, snapshots[iteration], seed, data, args, cache))
             for iteration in sorted(snapshots)]
    result = dict(method=method, seed=seed, settings=settings, seconds_per_iter=seconds_per_iter, curve=curve)
    with open(stored_path + '.part', 'w') as f:
        json.dump(result, f, indent=2)
    os.replace(stored_path + '.part', stored_path)
    print(json.dumps(result), flush=True)
    return result


def score_table(runs, method, key):
    """``{iteration: [score of each seed]}`` of ``method``."""
    table = {}
    for run in runs:
        if run['method'] == method:
            for point in run['curve']:
                table.setdefault(point['iteration'], []).append(point['scores'][key])
    return table


def markdown(runs, args):
    """Mean +- std over the seeds per method and scored iteration, as a markdown table."""
    lines = [f'{args.iterations} iterations (warm-up {args.warmup_iters}, cosine to zero), batch {args.batch_size}, '
             f'{args.view_size} px views, {"bfloat16 autocast" if args.amp else "float32"}'
             f'{", channels-last" if args.channels_last else ""}, seeds {args.seeds}, '
             f'{args.threads} CPU threads; mean +- std over the seeds run (percent).', '',
             '| method | seeds | iteration | s/iter (fastest run) | ' + ' | '.join(SCORES.values()) + ' |',
             '|---' * (len(SCORES) + 4) + '|']
    for method in args.methods:
        mine = [r for r in runs if r['method'] == method]
        if not mine:
            continue
        # the fastest run: on a shared machine the others ran beside other jobs
        speed = min(r['seconds_per_iter'] for r in mine)
        seeds = ' '.join(str(r['seed']) for r in mine)
        tables = {key: score_table(runs, method, key) for key in SCORES}
        for iteration in sorted(tables['ucm_knn_top1']):
            cells = [f'{np.mean(tables[key][iteration]):.2f} +- {np.std(tables[key][iteration]):.2f}'
                     for key in SCORES]
            lines.append(f'| {LABELS[method]} | {seeds} | {iteration} | {speed:.2f} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


# the goals at the last scored iteration, every seed: (method, score, reference, margin); the reference
# is a baseline's score of the same seed, or (``'own init'``) the method's own score at iteration 0
GOALS = (('false_bn', 'ucm_knn_top1', 'random_r18_bn', 10), ('false_linear', 'ucm_knn_top1', 'random_r18_bn', 10),
         ('false_bn', 'ucm_knn_top1', 'simclr', 0), ('false_linear', 'ucm_knn_top1', 'simclr', 0),
         ('false_bn', 'potsdam_probe_mIoU', 'random_r18_bn', 3), ('false_bn', 'loveda_probe_mIoU', 'random_r18_bn', 3),
         ('false_linear', 'potsdam_probe_mIoU', 'random_r18_bn', 3),
         ('false_linear', 'loveda_probe_mIoU', 'random_r18_bn', 3),
         ('sdcluster', 'ucm_knn_top1', 'own init', 5))


def goal_table(runs):
    """Per goal of :data:`GOALS` and seed, the method's last score minus its reference (percentage points), and
    whether the margin is reached, as markdown; goals whose runs are missing are left out."""
    by_key = {(run['method'], run['seed']): run for run in runs}
    seeds = sorted({run['seed'] for run in runs})
    lines = ['| goal (last scored iteration) | ' + ' | '.join(f'seed {seed}' for seed in seeds) + ' |',
             '|---' * (len(seeds) + 1) + '|']
    for method, key, reference, margin in GOALS:
        cells = []
        for seed in seeds:
            run = by_key.get((method, seed))
            base = run if reference == 'own init' else by_key.get((reference, seed))
            if run is None or base is None:
                cells.append('-')
                continue
            delta = run['curve'][-1]['scores'][key] - base['curve'][0 if reference == 'own init' else -1]['scores'][key]
            cells.append(f'{delta:+.2f} {"yes" if delta >= margin else "no"}')
        if any(cell != '-' for cell in cells):
            against = 'its own random init' if reference == 'own init' else LABELS[reference]
            lines.append(f'| {LABELS[method]}: {SCORES[key]} >= {against} + {margin} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_curves(runs, args, path):
    """Score against iterations, one panel per probe: mean over seeds with the seeds' range shaded for each
    trained method, the baselines as horizontal lines."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(SCORES), figsize=(5 * len(SCORES), 4.2))
    colours = dict(zip(METHODS, plt.rcParams['axes.prop_cycle'].by_key()['color']))
    for ax, (key, title) in zip(axes, SCORES.items()):
        for method in args.methods:
            table = score_table(runs, method, key)
            if not table:
                continue
            iterations = sorted(table)
            mean = [np.mean(table[i]) for i in iterations]
            label = f'{LABELS[method]} ({len(table[iterations[-1]])} seeds)'
            if method in BASELINES:
                ax.axhline(mean[0], color=colours[method], linestyle='--', label=label)
                continue
            ax.plot(iterations, mean, marker='o', color=colours[method], label=label)
            ax.fill_between(iterations, [min(table[i]) for i in iterations], [max(table[i]) for i in iterations],
                            color=colours[method], alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel('pre-training iteration')
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower center', ncol=min(4, len(labels)), frameon=False)
    fig.suptitle(f'Frozen-backbone probes on real imagery against pre-training iterations (batch {args.batch_size},'
                 f' {args.view_size} px; mean over seeds, shaded: their range; dashed: baselines)')
    fig.tight_layout(rect=(0, 0.12, 1, 0.95))
    save_figure(fig, path)


def parse_args(argv=None):
    """Command-line arguments; ``--eval-at`` points past ``--iterations`` are refused."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--iterations', type=int, default=2000, help='pre-training iterations per method and seed')
    parser.add_argument('--eval-at', type=int, nargs='+', default=[0, 250, 500, 1000, 2000],
                        help='iterations whose backbone is scored (0: the random init the run starts from)')
    parser.add_argument('--warmup-iters', type=int, default=None, help='linear warm-up (default: 5 %% of the run)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', choices=METHODS, default=list(METHODS))
    parser.add_argument('--data-dir', default=osp.join(osp.dirname(REPO), 'shared', 'data'),
                        help='the real imagery: ucmerced16/, neon_aerial/, isprs_loveda_crops/ (default: '
                             '../shared/data beside the repository)')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'real_data_probe'))
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(), help='torch CPU threads')
    parser.add_argument('--workers', type=int, default=1, help='data-loading processes')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--view-size', type=int, default=64, help='pre-training view size (SDCluster: +16)')
    parser.add_argument('--amp', action='store_true', help='bfloat16 autocast (MixedPrecisionOptimWrapper)')
    parser.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                        help='convolution weights channels-last (ChannelsLastHook; the faster layout on the CPU)')
    parser.add_argument('--eval-size', type=int, default=128, help='UC Merced images are resized to this')
    parser.add_argument('--ucm-per-class', type=int, default=100, help='UC Merced images per class used')
    parser.add_argument('--seg-pixels', type=int, default=30000, help='labelled grid cells the seg probe trains on')
    parser.add_argument('--report-only', action='store_true',
                        help='train and score nothing: write the results of the (method, seed) runs stored in '
                        '--work-dir with these settings, naming those that are missing')
    args = parser.parse_args(argv)
    if args.warmup_iters is None:
        args.warmup_iters = max(1, args.iterations // 20)
    late = [i for i in args.eval_at if not 0 <= i <= args.iterations]
    if late:
        parser.error(f'--eval-at {late} lies outside 0..--iterations ({args.iterations})')
    args.eval_at = sorted(set(args.eval_at))
    if not osp.isdir(osp.join(args.data_dir, 'ucmerced16')):
        parser.error(f'--data-dir {args.data_dir} has no ucmerced16/ folder (see the docstring for its layout)')
    return args


def main(argv=None):
    """Pre-train every method for the iterations, per seed, and score the frozen backbones along the way."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    if args.report_only:
        runs = [stored_scores(method, seed, args) for seed in args.seeds for method in args.methods]
        missing = [f'{method} seed {seed}' for seed in args.seeds for method in args.methods
                   if not any(r and r['method'] == method and r['seed'] == seed for r in runs)]
        if missing:
            print(f'--report-only: no stored scores with these settings for {", ".join(missing)}; left out', flush=True)
        runs = [run for run in runs if run]
        if not runs:
            raise SystemExit(f'--report-only: {args.work_dir} holds no stored run with these settings')
    else:
        args.pool, ucm, seg = prepare_data(args)
        data = dict(ucm=ucm, **seg)
        cache = FeatureCache(osp.join(args.work_dir, 'feature_cache'))
        runs = [run_method(method, seed, args, data, cache) for seed in args.seeds for method in args.methods]
    report = dict(settings={k: v for k, v in vars(args).items() if k != 'pool'}, runs=runs)
    outputs = {name: osp.join(args.work_dir, name) for name in ('results.json', 'results.md', 'learning_curves.png')}
    with open(outputs['results.json'], 'w') as f:
        json.dump(report, f, indent=2)
    table = markdown(runs, args) + '\n' + goal_table(runs)
    with open(outputs['results.md'], 'w') as f:
        f.write(table)
    plot_curves(runs, args, outputs['learning_curves.png'])
    print(table)
    print('wrote ' + ', '.join(outputs.values()))
    return report


if __name__ == '__main__':
    main()
