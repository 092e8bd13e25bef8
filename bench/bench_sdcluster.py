"""SDCluster training-step benchmark (results go to docs/benchmarks.md).

The full step (preprocessing, student two-view forward through backbone/projector/prototypes/predictor,
EMA update and teacher forward, Sinkhorn, RoIAlign alignment, both losses, backward, AdamW update) against
its floor: the student's two-view backbone forward/backward plus the teacher's two-view backbone forward,
at the same batch and precision. Images per second count images (two views each).

    python bench/bench_sdcluster.py --device cpu                   # small: tiny Swin, batch 4, 96 px
    python bench/bench_sdcluster.py --device cuda --preset full    # Swin-S OS16, batch 64, 224 px, AMP fp16

The step uses the config's optimiser wrapper (MixedPrecisionOptimWrapper, fp16 with a dynamic loss scale as
released) with the preset's autocast dtype; --preset tiny is the GPU suite's CPU dry run.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bench_utils import timed  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.methods.sdcluster.views import OverlappingMultiCrop, RandomFlipViews  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRESETS = dict(
    tiny=dict(batch=2, size=64, amp=None, tiny=True),
    small=dict(batch=4, size=96, amp=None, tiny=True),
    full=dict(batch=64, size=224, amp='float16', tiny=False),
)


def build_model(tiny: bool, device):
    """SDCluster of the released config (a tiny Swin if ``tiny``), initialised on ``device``; and the config."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py'))
    if tiny:
        cfg.model.backbone.update(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))
        cfg.model.neck.update(in_channels=256)
    MessageHub.get_current_instance().update_info('max_iters', 10**6)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    return model, cfg


def make_batch(batch, size, device='cpu', num_local=0, seed=0):
    """``batch`` noise images (``2 * size`` px square), each as two overlapping views of ``size`` px (and
    ``num_local`` local views of ``size // 2`` px) with their boxes and flips: uint8 views, packed as the data
    loader gives them (``dict(inputs=[(batch, 3, size, size) per view], data_samples=[DataSample with gc_bboxes,
    otc_bboxes, flip_flags])``). The same for a seed; the tests build their SDCluster batches with it too."""
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # the crops and flips draw from numpy's global generator
    crops = OverlappingMultiCrop(global_size=size, num_local=num_local, local_size=size // 2)
    flips = RandomFlipViews()
    views, samples = [[] for _ in range(2 + num_local)], []
    for _ in range(batch):
        img = rng.integers(0, 256, (size * 2, size * 2, 3), dtype=np.uint8)
        results = flips(crops(dict(img=img)))
        for v, view in enumerate(results['img']):
            views[v].append(torch.from_numpy(np.ascontiguousarray(view)).permute(2, 0, 1))
        sample = DataSample()
        for key in ('gc_bboxes', 'otc_bboxes', 'flip_flags'):
            sample.set_field(results[key], key)
        samples.append(sample)
    return dict(inputs=[torch.stack(v).to(device) for v in views], data_samples=samples)


def bench(device, preset, warmup, iters):
    """Mean SDCluster step and floor times of ``preset`` on ``device``."""
    settings = PRESETS[preset]
    model, cfg = build_model(settings['tiny'], device)
    wrapper = dict(cfg.optim_wrapper, dtype=settings['amp'])
    if settings['amp'] is None:
        wrapper = dict(type='OptimWrapper', optimizer=wrapper['optimizer'])
    optim_wrapper = build_optim_wrapper(model, wrapper)
    data = make_batch(settings['batch'], settings['size'], device)

    def sdcluster_step():
        model.train_step(data, optim_wrapper)

    views = torch.cat(model.data_preprocessor(data, True)['inputs'])
    student, teacher = model.backbone, model.teacher.module['backbone']
    dtype = getattr(torch, settings['amp']) if settings['amp'] else torch.float32

    def floor_step():
        with torch.autocast(device.type, dtype=dtype, enabled=settings['amp'] is not None):
            out = student(views)[-1]
            with torch.no_grad():
                teacher(views)
        out.float().mean().backward()

    step_s = timed(sdcluster_step, device, warmup, iters)
    floor_s = timed(floor_step, device, warmup, iters)
    return dict(preset=preset, **settings, sdcluster_step_ms=step_s * 1e3, floor_step_ms=floor_s * 1e3,
                sdcluster_img_per_s=settings['batch'] / step_s, floor_img_per_s=settings['batch'] / floor_s,
                step_over_floor=step_s / floor_s)


def run(device, preset=None, warmup=None, iters=None):
    """The step benchmark on ``device``; defaults: the full preset, 5 warm-up and 20 timed steps on CUDA, the
    small preset, 1 and 3 on the CPU. Returns the results (device, torch, step)."""
    init_default_scope('mmpretrain')
    device = torch.device(device)
    on_gpu = device.type == 'cuda'
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dict(device=torch.cuda.get_device_name() if on_gpu else 'cpu', torch=torch.__version__,
                step=bench(device, preset or ('full' if on_gpu else 'small'), warmup or (5 if on_gpu else 1),
                           iters or (20 if on_gpu else 3)))


def main():
    """Command line: run, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--preset', choices=PRESETS, default=None, help='small on CPU, full on GPU by default')
    parser.add_argument('--warmup', type=int, default=None)
    parser.add_argument('--iters', type=int, default=None)
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args()
    results = run(args.device, args.preset, args.warmup, args.iters)
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
