"""FALSE speed benchmarks (results go to docs/benchmarks.md).

1. Loss: the vectorised FALSE loss against a transcription of the official per-row loop (Python loop
   over rows, a host synchronisation per selected pair) on the same embeddings.
2. Training step: one full FALSE step (preprocessing, two-view backbone, projection, gathered loss,
   backward, LARC update) against its floor, the bare two-view backbone forward/backward at the same
   batch. Images per second count images (two views each).

    python bench/bench_false.py --device cpu                       # small: ResNet-18, batch 16, 96 px
    python bench/bench_false.py --device cuda --preset full        # ResNet-50, batch 256, 224 px, bf16,
                                                                   # channels_last
    bf16 goes through MixedPrecisionOptimWrapper(dtype='bfloat16'), what tools/train.py --amp-dtype bfloat16
    gives; --preset tiny is the GPU suite's CPU dry run (bench/gpu_suite/gpu_suite.py --dry-run).
"""
import argparse
import json
import math
import os.path as osp
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bench_utils import timed  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.methods.false.loss import false_loss  # noqa: E402

PRESETS = dict(
    tiny=dict(depth=18, batch=4, size=32, bf16=False, channels_last=False),
    small=dict(depth=18, batch=16, size=96, bf16=False, channels_last=False),
    full=dict(depth=50, batch=256, size=224, bf16=True, channels_last=True),
)


def official_loop_loss(z, temperature=0.5, alpha=1.0, threshold=0.9, sentinel=3.0):
    """The official FALSE loss structure (single GPU): per-row Python loop, per-pair host checks."""
    z = F.normalize(z, dim=1)
    rows, cols = z.size(0), z.size(0)
    sim = torch.exp(z @ z.t() / temperature)
    pos_mask = torch.zeros_like(sim, dtype=torch.bool)
    idx = torch.arange(rows, device=z.device)
    pos_mask[idx, (idx + rows // 2) % rows] = True
    neg_mask = ~pos_mask & ~torch.eye(rows, dtype=torch.bool, device=z.device)
    positives = sim * pos_mask
    negatives = sim * neg_mask
    pos_sim = positives.sum(1)
    diff = torch.full_like(sim, sentinel)
    for i in range(rows):
        diff[i, i:] = (sim[i, i:] - pos_sim[i]).abs()
        diff[i, i] = sentinel
        if i < rows // 2:
            diff[i, i + cols // 2] = sentinel
    anchors, candidates = torch.where(diff == diff.min())
    for a, n in zip(anchors, candidates):
        if temperature * torch.log(pos_sim[a]) >= threshold:
            if positives[a, n] == 0:
                positives[a, n] = alpha * negatives[a, n]
            if negatives[a, n] != 0:
                negatives[a, n] = (1 - alpha) * negatives[a, n]
    p, n = positives.sum(1), negatives.sum(1)
    return -torch.log(p / (p + n)).mean()


def bench_loss(device, batch, warmup, iters):
    """Vectorised FALSE loss against the official loop structure on ``2 * batch`` random embeddings."""
    z = torch.randn(2 * batch, 128, device=device, requires_grad=True)

    def run(fn):
        def step():
            fn(z).backward()
        return step

    vectorised = timed(run(lambda x: false_loss(x, sentinel=3.0)[0]), device, warmup, iters)
    loop = timed(run(official_loop_loss), device, max(1, warmup // 5), max(2, iters // 5))
    with torch.no_grad():
        diff = (false_loss(z, sentinel=3.0)[0] - official_loop_loss(z)).abs().item()
    return dict(loop_ms=loop * 1e3, vectorised_ms=vectorised * 1e3, speedup=loop / vectorised, abs_diff=diff)


def build_false(depth, device, channels_last):
    """FALSE with a ResNet of ``depth`` and the released neck and head, on ``device``."""
    model = MODELS.build(dict(
        type='FALSE',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(type='ResNet', depth=depth, zero_init_residual=False),
        neck=dict(type='LinearProjectionNeck', in_channels=2048 if depth >= 50 else 512,
                  hid_channels=2048 if depth >= 50 else 512, out_channels=128),
        head=dict(type='FALSEHead'))).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def bench_step(device, preset, warmup, iters, with_simclr):
    """FALSE ``train_step`` against the bare two-view backbone (and mmpretrain's SimCLR) at ``preset``."""
    cfg = PRESETS[preset]
    model = build_false(cfg['depth'], device, cfg['channels_last'])
    wrapper_type = 'MixedPrecisionOptimWrapper' if cfg['bf16'] else 'OptimWrapper'
    wrapper_cfg = dict(type=wrapper_type, optimizer=dict(type='LARC', lr=4.8, momentum=0.9, weight_decay=1e-6),
                       paramwise_cfg=dict(norm_decay_mult=0.0))
    if cfg['bf16']:
        wrapper_cfg['dtype'] = 'bfloat16'
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    batch, size = cfg['batch'], cfg['size']
    images = [torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device) for _ in range(2)]
    data = dict(inputs=images, data_samples=None)

    def false_step():
        model.train_step(data, optim_wrapper)

    backbone = model.backbone
    views = torch.cat(model.data_preprocessor(data, True)['inputs'])
    if cfg['channels_last']:
        views = views.contiguous(memory_format=torch.channels_last)

    def floor_step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg['bf16']):
            out = backbone(views)[-1]
        out.float().mean().backward()

    false_s = timed(false_step, device, warmup, iters)
    floor_s = timed(floor_step, device, warmup, iters)
    results = dict(preset=preset, **cfg, false_step_ms=false_s * 1e3, floor_step_ms=floor_s * 1e3,
                   false_img_per_s=batch / false_s, floor_img_per_s=batch / floor_s,
                   step_over_floor=false_s / floor_s)
    if with_simclr:
        simclr_s = timed(mmpretrain_simclr_step(cfg, device, data), device, warmup, iters)
        results.update(mmpretrain_simclr_step_ms=simclr_s * 1e3, mmpretrain_simclr_img_per_s=batch / simclr_s)
    return results


def mmpretrain_simclr_step(cfg, device, data):
    """mmpretrain's own SimCLR (its config's neck, head and LARS) at the same batch, for reference."""
    width = 2048 if cfg['depth'] >= 50 else 512
    model = MODELS.build(dict(
        type='SimCLR',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], to_rgb=True),
        backbone=dict(type='ResNet', depth=cfg['depth'], zero_init_residual=True),
        neck=dict(type='NonLinearNeck', in_channels=width, hid_channels=2048, out_channels=128,
                  num_layers=2, with_avg_pool=True, norm_cfg=dict(type='BN1d')),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'), temperature=0.1))).to(device)
    if cfg['channels_last']:
        model = model.to(memory_format=torch.channels_last)
    wrapper_cfg = dict(type='AmpOptimWrapper' if cfg['bf16'] else 'OptimWrapper',
                       optimizer=dict(type='LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
                       paramwise_cfg=dict(custom_keys={'bn': dict(decay_mult=0, lars_exclude=True),
                                                       'bias': dict(decay_mult=0, lars_exclude=True),
                                                       'downsample.1': dict(decay_mult=0, lars_exclude=True)}))
    if cfg['bf16']:
        wrapper_cfg['dtype'] = 'bfloat16'
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    return lambda: model.train_step(data, optim_wrapper)


def run(device, preset=None, loss_batch=None, warmup=None, iters=None, with_simclr=False):
    """Both benchmarks on ``device``; defaults: the full preset, 10 warm-up and 30 timed steps on CUDA, the
    small preset, 2 and 5 on the CPU. Returns the results (device, torch, loss, step)."""
    init_default_scope('mmpretrain')
    device = torch.device(device)
    on_gpu = device.type == 'cuda'
    preset = preset or ('full' if on_gpu else 'small')
    warmup = warmup or (10 if on_gpu else 2)
    iters = iters or (30 if on_gpu else 5)
    if on_gpu:
        torch.backends.cudnn.benchmark = True
    loss_batch = loss_batch or (256 if on_gpu else 64)
    return dict(device=torch.cuda.get_device_name() if on_gpu else 'cpu', torch=torch.__version__,
                loss=dict(batch=loss_batch, **bench_loss(device, loss_batch, warmup, iters)),
                step=bench_step(device, preset, warmup, iters, with_simclr))


def main():
    """Command line: run, print and save the results; fail if the two losses disagree."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--preset', choices=PRESETS, default=None, help='small on CPU, full on GPU by default')
    parser.add_argument('--loss-batch', type=int, default=None, help='images for the loss benchmark')
    parser.add_argument('--warmup', type=int, default=None)
    parser.add_argument('--iters', type=int, default=None)
    parser.add_argument('--with-mmpretrain-simclr', action='store_true',
                        help="also time mmpretrain's SimCLR step at the same setting")
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args()
    results = run(args.device, args.preset, args.loss_batch, args.warmup, args.iters, args.with_mmpretrain_simclr)
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    if not math.isfinite(results['loss']['abs_diff']) or results['loss']['abs_diff'] > 1e-4:
        sys.exit('vectorised and loop losses disagree')


if __name__ == '__main__':
    main()
