"""CPU training speed per method: which precision, memory layout, view size and thread count train fastest on
this CPU, measured side by side in one run (docs/benchmarks.md#training-on-the-cpu).

Each variant builds its own model from the same config (the CPU-scale recipes of bench/real_data_probe.py, the
ones the learning curves train) and runs full ``train_step`` calls (preprocessing, two-view forward, loss,
backward, optimiser update) on one real batch made by the method's own loader pipeline from synthetic scenes.
The variants take turns, one step each per round, so a slow spell of a shared machine hits all of them; the
median step time per variant gives images per second and the ratio to the first variant (the baseline:
float32, 96 px views, as the demo trained before this bench). The spread (min / max step) is reported too,
since a variant that is fast on median but has 10x spikes is not a winner.

A second table times the photometric augmentation of FALSE's views in its two placements on a CPU-only run:
per image in the loader (``tools/train.py --augment-on-cpu``, torchvision ops) against the batched
device stage (``BatchAugmentSelfSupDataPreprocessor``), per image.

    python bench/bench_cpu_training.py                               # every method, default variants
    python bench/bench_cpu_training.py --methods false_bn --rounds 3 --batch-size 8   # smoke test
"""
import argparse
import json
import os.path as osp
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # real_data_probe puts the repository on the path

from mmengine.dataset import default_collate  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import DATASETS, MODELS  # noqa: E402
from real_data_probe import REPO, TRAINED, method_model, method_optimizer, method_pipeline  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam  # noqa: E402

# name -> (autocast dtype or None, channels_last, view size, torch threads or None for all, flush denormals)
VARIANTS = {
    'float32, 96 px': (None, False, 96, None, False),
    'float32, 64 px': (None, False, 64, None, False),
    'bfloat16, 64 px': ('bfloat16', False, 64, None, False),
    'float32, channels_last, 64 px': (None, True, 64, None, False),
    'bfloat16, channels_last, 64 px': ('bfloat16', True, 64, None, False),
    'float32, 64 px, flush denormals': (None, False, 64, None, True),
    'float32, 64 px, 1 thread': (None, False, 64, 1, False),
}


def make_batch(method, pool, batch_size, view_size):
    """One batch of ``method``'s loader pipeline at ``view_size`` (what ``train_step`` receives)."""
    dataset = DATASETS.build(dict(type='UnlabeledImageFolder', data_root=pool,
                                  pipeline=method_pipeline(method, view_size)))
    torch.manual_seed(0)
    np.random.seed(0)
    return default_collate([dataset[i % len(dataset)] for i in range(batch_size)])


class Variant:
    """One model, optimiser and batch trained under one setting; ``step()`` returns its wall time."""

    def __init__(self, method, setting, batch):
        self.dtype, self.channels_last, _, self.threads, self.flush_denormal = setting
        torch.manual_seed(0)
        self.model = MODELS.build(method_model(method))
        self.model.init_weights()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        wrapper = dict(type='OptimWrapper', **method_optimizer(method, len(batch['data_samples'])))
        if self.dtype:
            wrapper.update(type='MixedPrecisionOptimWrapper', dtype=self.dtype)
        self.optim_wrapper = build_optim_wrapper(self.model, wrapper)
        self.batch = batch

    def step(self) -> float:
        """One ``train_step`` under this variant's thread count and denormal mode; its seconds."""
        threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        torch.set_flush_denormal(self.flush_denormal)
        start = time.perf_counter()
        self.model.train_step(self.batch, self.optim_wrapper)
        seconds = time.perf_counter() - start
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
        return seconds


def bench_method(method, pool, args):
    """Median, min and max step time of every variant of ``method``, interleaved over ``args.rounds``."""
    batches = {size: make_batch(method, pool, args.batch_size, size + (16 if method == 'sdcluster' else 0))
               for size in {VARIANTS[name][2] for name in args.variants}}
    variants = {name: Variant(method, VARIANTS[name], batches[VARIANTS[name][2]]) for name in args.variants}
    for variant in variants.values():  # warm-up: first calls allocate and pick kernels
        for _ in range(args.warmup):
            variant.step()
    times = {name: [] for name in variants}
    for round_ in range(args.rounds):
        for name, variant in variants.items():
            times[name].append(variant.step())
        print(f'{method}: round {round_ + 1}/{args.rounds}', flush=True)
    baseline = float(np.median(times[args.variants[0]]))
    rows = []
    for name, seconds in times.items():
        median = float(np.median(seconds))
        rows.append(dict(method=method, variant=name, median_step_s=median, min_step_s=float(np.min(seconds)),
                         max_step_s=float(np.max(seconds)), images_per_s=args.batch_size / median,
                         ratio_to_baseline=baseline / median))
    return rows


def bench_augmentation_placement(pool, args):
    """Per-image milliseconds of FALSE's views at 64 px in the two placements of its photometric transforms: the
    loader (all CPU, ``tools/train.py --augment-on-cpu``) and the batched device stage of the data preprocessor
    (here on the CPU), over batches of ``args.batch_size`` images: one untimed batch each, then ``args.rounds``
    batches each in turn; the medians."""
    from mmengine.config import Config

    from rs_ssl_plugin.datasets.pipeline_config import find_transform, set_augment_on_device
    placements = {}
    for on_device in (False, True):
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam.py'))
        set_augment_on_device(cfg, on_device)
        pipeline = cfg.train_dataloader.dataset.pipeline
        find_transform(pipeline, 'FastRandomResizedCrop').scale = 64
        name = 'batched device stage, on the CPU' if on_device else 'in the loader (--augment-on-cpu)'
        placements[name] = (DATASETS.build(dict(type='UnlabeledImageFolder', data_root=pool, pipeline=pipeline)),
                            MODELS.build(cfg.model.data_preprocessor))
    times = {name: ([], []) for name in placements}
    for round_ in range(args.rounds + 1):
        for name, (dataset, preprocessor) in placements.items():
            start = time.perf_counter()
            batch = default_collate([dataset[i % len(dataset)] for i in range(args.batch_size)])
            loaded = time.perf_counter()
            preprocessor(batch, True)
            if round_:  # the first round warms up
                times[name][0].append(loaded - start)
                times[name][1].append(time.perf_counter() - loaded)
    return {name: dict(loader_ms_per_image=1e3 * float(np.median(loader)) / args.batch_size,
                       preprocessor_ms_per_image=1e3 * float(np.median(device)) / args.batch_size)
            for name, (loader, device) in times.items()}


def markdown(rows, placement, args):
    """The results as markdown tables."""
    lines = [f'batch {args.batch_size}, {args.rounds} interleaved rounds after {args.warmup} warm-up steps, '
             f'{torch.get_num_threads()} torch threads, torch {torch.__version__}', '',
             '| method | variant | median step (s) | min / max (s) | images/s | ratio to baseline |',
             '|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f'| {row["method"]} | {row["variant"]} | {row["median_step_s"]:.3f} | {row["min_step_s"]:.3f} / '
                     f'{row["max_step_s"]:.3f} | {row["images_per_s"]:.1f} | {row["ratio_to_baseline"]:.2f}x |')
    if placement:
        lines += ['', '| FALSE photometric augmentation, 64 px | loader ms/image | preprocessor ms/image | total |',
                  '|---|---|---|---|']
        for name, row in placement.items():
            total = row['loader_ms_per_image'] + row['preprocessor_ms_per_image']
            lines.append(f'| {name} | {row["loader_ms_per_image"]:.1f} | {row["preprocessor_ms_per_image"]:.1f} '
                         f'| {total:.1f} |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    """Command line: time every method's variants and print (and save) the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--methods', nargs='+', choices=TRAINED, default=list(TRAINED))
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS),
                        help='the first is the baseline of the ratios')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--rounds', type=int, default=8, help='timed steps per variant, interleaved')
    parser.add_argument('--warmup', type=int, default=2, help='untimed steps per variant first')
    parser.add_argument('--no-placement', action='store_true', help='skip the augmentation placement table')
    parser.add_argument('--placement-only', action='store_true', help='only the augmentation placement table')
    parser.add_argument('--out', help='also write the rows as JSON here')
    args = parser.parse_args(argv)
    init_default_scope('mmpretrain')
    MessageHub.get_current_instance().update_info('max_iters', 10**6)  # SDCluster's schedules read it
    with tempfile.TemporaryDirectory() as tmp:
        pool = make_synthetic_potsdam(osp.join(tmp, 'scenes'), num_train=0, num_val=0, num_unlabeled=16,
                                      size=160, seed=0)['unlabeled_dir']
        methods = [] if args.placement_only else args.methods
        rows = [row for method in methods for row in bench_method(method, pool, args)]
        placement = None if args.no_placement else bench_augmentation_placement(pool, args)
    table = markdown(rows, placement, args)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(rows=rows, placement=placement, settings=vars(args)), f, indent=2)
        print(f'wrote {args.out}')
    return rows, placement


if __name__ == '__main__':
    main()
