"""What is each method's pre-training worth on real imagery, at an equal CPU budget? (docs/benchmarks.md)

Every method pre-trains from scratch for the same wall-clock budget on the same unlabeled real images (the
NEON orthophoto crops cut into 256 px tiles, plus the training half of UC Merced), then its frozen backbone
is scored with the functions of tools/eval_backbone.py:

- weighted kNN (k=20, T=0.07) and a linear probe on UC Merced (16 classes, seeded 50 % split per class;
  the test half is never seen in pre-training);
- the 1x1 segmentation probe on the real ISPRS Potsdam crop (6 classes, 128 px tiles) and the LoveDA tiles
  (7 classes, 256 px tiles), each split into training / test tiles by a seeded draw.

Methods: random init (ResNet-18 and the small OS16 Swin: the baselines; `random_r18_bn` is the random
ResNet-18 with BatchNorm statistics averaged over 20 pool batches and no gradient step, which separates what
BatchNorm statistics alone give from what training learns), mmpretrain's stock SimCLR (its
SimCLR / NonLinearNeck / ContrastiveHead T=0.1, LARS 0.3 x batch/256 as its config), FALSE with the released
head (Linear -> Linear, one linear map) and with the non-linear BatchNorm head (Linear -> BN -> ReLU ->
Linear), all on ResNet-18 with the SimCLR views, and SDCluster on a small OS16 Swin (embed 48, depths
2-2-2-2) with its overlapping views. The learning rate warms up over 10 iterations and then stays constant
(no schedule knows when a time budget ends). Several seeds give the mean and the spread.

    python bench/real_data_probe.py --budget-minutes 20 --seeds 0 1 2           # the real comparison
    python bench/real_data_probe.py --budget-minutes 0.3 --seeds 0 --ucm-per-class 10   # smoke test

Writes <work-dir>/results.json (every run) and <work-dir>/results.md (mean +- std per method).
"""
import argparse
import copy
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
SHARED_DATA = osp.normpath(osp.join(REPO, '..', 'shared', 'data'))  # the real imagery beside the checkout
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

RESNET18 = dict(type='ResNet', depth=18, norm_cfg=dict(type='BN'))
SMALL_SWIN = dict(type='SwinTransformerOS16', embed_dim=48, depths=(2, 2, 2, 2), num_heads=(3, 6, 12, 24),
                  window_size=7, drop_path_rate=0.1)
PREPROCESSOR = dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    to_rgb=True)
METHODS = ('random_r18', 'random_r18_bn', 'random_swin', 'simclr', 'false_linear', 'false_bn', 'sdcluster')
POTSDAM_CLASSES = ('impervious_surface', 'building', 'low_vegetation', 'tree', 'car', 'clutter')
LOVEDA_CLASSES = ('background', 'building', 'road', 'water', 'barren', 'forest', 'agricultural')


class TimeBudgetHook(Hook):
    """Stops training once ``seconds`` of training wall time have passed (checked after every iteration)."""
    priority = 'VERY_LOW'

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = None

    def before_train(self, runner) -> None:
        """Start the clock when the first iteration is about to run."""
        self.start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Ask the loop to stop once the budget is spent."""
        if time.perf_counter() - self.start >= self.seconds:
            runner.train_loop.stop_training = True


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


def method_config(method, args):
    """The pre-training config of ``method`` (model, optimiser, views) on the unlabeled pool."""
    batch = args.batch_size
    contrastive_pipeline = [dict(type='CheckedLoadImageFromFile'),
                            dict(type='MultiView', num_views=2, transforms=[simclr_views(args.view_size)]),
                            dict(type='PackInputs')]
    larc = dict(type='OptimWrapper', paramwise_cfg=dict(norm_decay_mult=0.0),
                optimizer=dict(type='LARC', lr=4.8 * batch / 256, momentum=0.9, weight_decay=1e-6))
    if method == 'simclr':
        model = dict(type='SimCLR', data_preprocessor=PREPROCESSOR,
                     backbone=dict(RESNET18, zero_init_residual=True),
                     neck=dict(type='NonLinearNeck', in_channels=512, hid_channels=512, out_channels=128,
                               num_layers=2, with_avg_pool=True),
                     head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1))
        optim = dict(type='OptimWrapper', optimizer=dict(type='LARS', lr=0.3 * batch / 256, momentum=0.9,
                                                         weight_decay=1e-6),
                     paramwise_cfg=dict(custom_keys={'bn': dict(decay_mult=0, lars_exclude=True),
                                                     'bias': dict(decay_mult=0, lars_exclude=True),
                                                     'downsample.1': dict(decay_mult=0, lars_exclude=True)}))
        pipeline = contrastive_pipeline
    elif method in ('false_linear', 'false_bn'):
        head = dict(with_relu=False) if method == 'false_linear' else dict(with_relu=True, norm_cfg=dict(type='BN1d'))
        model = dict(type='FALSE', data_preprocessor=PREPROCESSOR, backbone=RESNET18,
                     neck=dict(type='LinearProjectionNeck', in_channels=512, hid_channels=512, out_channels=128,
                               **head),
                     head=dict(type='FALSEHead', temperature=0.5, confidence_weight=1.0, positive_threshold=0.9))
        optim, pipeline = larc, contrastive_pipeline
    elif method == 'sdcluster':
        model = dict(type='SDCluster', data_preprocessor=PREPROCESSOR, backbone=SMALL_SWIN,
                     neck=dict(type='GELUMLP', in_channels=384, hidden_channels=1024, out_channels=128, dense=True),
                     prototypes=dict(type='ClusterPrototypes', num_prototypes=64, dim=128),
                     predictor=dict(type='GELUMLP', in_channels=128, hidden_channels=1024, out_channels=128,
                                    dense=False))
        optim = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1.25e-3, weight_decay=0.05))
        pipeline = [
            dict(type='CheckedLoadImageFromFile'),
            dict(type='OverlappingMultiCrop', num_global=2, num_local=0, global_size=args.view_size + 16,
                 global_scale=(0.25, 1.0), min_intersection=0.01),
            dict(type='RandomFlipViews', prob=0.5),
            dict(type='ForEachView', transforms=simclr_views(args.view_size + 16)[2:]),
            dict(type='PackInputs', algorithm_keys=['gc_bboxes', 'otc_bboxes', 'flip_flags']),
        ]
    else:
        raise ValueError(method)
    return Config(dict(
        default_scope='mmpretrain', custom_imports=dict(imports=['rs_ssl_plugin'], allow_failed_imports=False),
        model=model, optim_wrapper=optim,
        train_dataloader=dict(batch_size=batch, num_workers=args.workers, persistent_workers=args.workers > 0,
                              drop_last=True, sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate'),
                              dataset=dict(type='UnlabeledImageFolder', data_root=args.pool, pipeline=pipeline)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=10**9),
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10)],
        default_hooks=dict(timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=10),
                           param_scheduler=dict(type='ParamSchedulerHook'),
                           checkpoint=dict(type='CheckpointHook', interval=10**9, save_last=False)),
        custom_hooks=[dict(type='SSLMonitorHook', interval=10)],
        log_processor=dict(by_epoch=False), env_cfg=dict(cudnn_benchmark=False),
        randomness=dict(seed=args.seed_now)))


def backbone_only_config(path, backbone):
    """Write a backbone-only config (what tools/eval_backbone.py reads) for ``backbone``."""
    with open(path, 'w') as f:
        f.write(f"default_scope = 'mmpretrain'\nbackbone = {backbone!r}\ndata_preprocessor = {PREPROCESSOR!r}\n")
    return path


def pretrain(method, args, run_dir):
    """Train ``method`` for the budget; ``(exported backbone, backbone config, iterations run)``."""
    cfg = method_config(method, args)
    cfg.work_dir = run_dir
    runner = Runner.from_cfg(cfg)
    runner.register_hook(TimeBudgetHook(args.budget_minutes * 60))
    runner.train()
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    weights = osp.join(run_dir, 'backbone.pth')
    save_state_dict({f'backbone.{k}': v for k, v in model.backbone.state_dict().items()}, weights,
                    dict(method=method, iterations=runner.iter))
    node = RESNET18 if method != 'sdcluster' else SMALL_SWIN
    if method == 'simclr':
        node = dict(node, zero_init_residual=True)
    return weights, backbone_only_config(osp.join(run_dir, 'backbone_config.py'), node), runner.iter


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
            chosen = [paths[i] for i in order[(b * args.batch_size) % len(paths):][:args.batch_size]]
            module(torch.stack([backbone.preprocessing(resized_rgb(p, args.view_size)) for p in chosen]))
    weights = osp.join(run_dir, 'backbone.pth')
    save_state_dict({f'backbone.{k}': v for k, v in module.state_dict().items()}, weights,
                    dict(method='random_r18_bn', batches=batches))
    return weights, config


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


def markdown(runs, args):
    """Mean +- std per method over the seeds, as a markdown table."""
    keys = ['ucm_knn_top1', 'ucm_linear_top1', 'potsdam_probe_mIoU', 'loveda_probe_mIoU']
    lines = [f'Budget {args.budget_minutes} min of pre-training per method and seed, seeds {args.seeds}, '
             f'{args.threads} CPU threads; mean +- std over seeds (percent).', '',
             '| method | iterations | ' + ' | '.join(keys) + ' |', '|---' * (len(keys) + 2) + '|']
    for method in args.methods:
        mine = [r for r in runs if r['method'] == method]
        cells = [f'{np.mean([r["iterations"] for r in mine]):.0f}']
        for key in keys:
            values = [r['scores'][key] for r in mine]
            cells.append(f'{np.mean(values):.2f} +- {np.std(values):.2f}')
        lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def main():
    """Pre-train every method for the budget, per seed, and score the frozen backbones."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--budget-minutes', type=float, default=20.0, help='pre-training wall time per method/seed')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--methods', nargs='+', choices=METHODS, default=list(METHODS))
    parser.add_argument('--data-dir', default=SHARED_DATA,
                        help='the shared real imagery (README there; default: ../shared/data beside the checkout)')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'real_data_probe'))
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(), help='torch CPU threads')
    parser.add_argument('--workers', type=int, default=1, help='data-loading processes')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--view-size', type=int, default=96, help='pre-training view size (SDCluster: +16)')
    parser.add_argument('--eval-size', type=int, default=128, help='UC Merced images are resized to this')
    parser.add_argument('--ucm-per-class', type=int, default=100, help='UC Merced images per class used')
    parser.add_argument('--seg-pixels', type=int, default=30000, help='labelled grid cells the seg probe trains on')
    args = parser.parse_args()
    if not osp.isdir(args.data_dir):
        parser.error(f'--data-dir {args.data_dir} is not a folder: point it at the shared real imagery')
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    args.pool, ucm, seg = prepare_data(args)
    data = dict(ucm=ucm, **seg)
    cache = FeatureCache(osp.join(args.work_dir, 'feature_cache'))
    runs = []
    for seed in args.seeds:
        args.seed_now = seed
        for method in args.methods:
            run_dir = osp.join(args.work_dir, f'{method}_seed{seed}')
            os.makedirs(run_dir, exist_ok=True)
            start = time.perf_counter()
            if method == 'random_r18_bn':
                (weights, config), iterations = random_with_pool_statistics(args, run_dir, seed), 0
            elif method.startswith('random'):
                node = RESNET18 if method == 'random_r18' else SMALL_SWIN
                config, weights, iterations = backbone_only_config(osp.join(run_dir, 'cfg.py'), node), 'random', 0
            else:
                weights, config, iterations = pretrain(method, copy.copy(args), run_dir)
            trained = time.perf_counter() - start
            scores = evaluate(config, weights, seed, data, args, cache)
            runs.append(dict(method=method, seed=seed, iterations=iterations, pretrain_seconds=trained,
                             eval_seconds=time.perf_counter() - start - trained, scores=scores))
            print(json.dumps(runs[-1]), flush=True)
    report = dict(settings={k: v for k, v in vars(args).items() if k != 'seed_now'}, runs=runs)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(report, f, indent=2)
    table = markdown(runs, args)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table)
    print(table)


if __name__ == '__main__':
    main()
