"""The GPU suite: every method trains on CUDA in its released precision, and the benchmark rows, in one call.

    bash bench/gpu_suite/gpu_suite.sh                              # install the stack from .whl/, run, report
    python bench/gpu_suite/gpu_suite.py --out-dir DIR              # the suite alone, the stack installed
    python bench/gpu_suite/gpu_suite.py --dry-run --out-dir DIR    # the same code on the CPU, tiny presets (tests)
    python bench/gpu_suite/gpu_suite_report.py DIR/gpu_suite.json  # the docs/benchmarks.md tables

Rows (in this order): ``data`` generates the synthetic scenes; ``train_false``, ``train_sdcluster``,
``train_sdsh`` and ``train_iddc`` train each shipped config a few dozen iterations through mmengine's
Runner, its real data pipeline and its optimiser wrapper and precision (FALSE bf16, SDCluster fp16 with a
dynamic loss scale as released, SDSH ``SDSHAmpOptimWrapper`` fp16, IDDC fp32 as released) on the generated
scenes; ``bench_false``, ``bench_sdcluster``, ``bench_sdsh`` and ``bench_infer_tiles`` call the benchmark
scripts' ``run`` at their full presets; ``input_pipeline`` runs bench_input_pipeline's end-to-end loader + step
benchmark; ``cuda_tests`` runs the CUDA-only tests.

Time-boxing (supervisor.py): a parent process (which never imports torch) runs the rows one after the other
in a worker process. Each row gets a share of the time left before the deadline (its weight over the weights
of the rows still to run); the worker stops a row at its budget (SIGALRM), and the parent kills and restarts
the worker for the remaining rows if a row overruns its budget by ``GRACE_S`` or the worker dies (a CUDA
fault, say). Every row's result, partial result or error lands in the one JSON file, rewritten after
each row.
"""
import argparse
import gc
import json
import os
import os.path as osp
import shutil
import statistics
import subprocess
import sys
import time
import traceback

from supervisor import Alarm, Report, clipped, emit, supervise

HERE = osp.dirname(osp.abspath(__file__))
BENCH = osp.dirname(HERE)  # the benchmark scripts the rows call
REPO = osp.dirname(BENCH)
MIN_BUDGET_S = 5  # a row's budget is at least this (while that much time is left)
# (row, weight): a row's budget is its share of the time left; the weights are GPU seconds it is expected
# to need at most
ROWS = [('data', 15), ('train_false', 45), ('train_sdcluster', 45), ('train_sdsh', 45), ('train_iddc', 30),
        ('bench_false', 45), ('bench_sdcluster', 35), ('bench_sdsh', 35), ('bench_infer_tiles', 60),
        ('input_pipeline', 50), ('cuda_tests', 25)]
WEIGHTS = dict(ROWS)
INPUT_PIPELINE_METHODS = ('false', 'sdcluster', 'sdsh')


class RowNotAvailable(Exception):
    """A row cannot run in this checkout or mode; the message says why."""


# The worker: imports torch and the stack, runs the rows -------------------------------------------------

class Suite:
    """What the rows share: the device, the mode, a scratch folder and the generated data."""

    def __init__(self, dry_run: bool, scratch: str):
        import torch
        self.torch = torch
        self.dry_run = dry_run
        self.device = torch.device('cpu' if dry_run else 'cuda')
        self.scratch = scratch
        self.num_workers = 0 if dry_run else data_loader_workers()

    def data(self) -> dict:
        """The generated scenes (made once; the same parameters find them again after a worker restart):
        a synthetic Potsdam (unlabelled and labelled training scenes) and class folders for retrieval."""
        from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
        root = osp.join(self.scratch, 'potsdam')
        size, count = (64, 8) if self.dry_run else (256, 16)
        make_synthetic_potsdam(root, num_train=count // 2, num_val=1, num_unlabeled=count, size=size, seed=0)
        retrieval = osp.join(self.scratch, 'retrieval')
        unlabeled = sorted(os.listdir(osp.join(root, 'unlabeled')))
        for i, name in enumerate(unlabeled):  # 4 classes, their first halves the training database
            target = osp.join(retrieval, f'class_{i % 4}', name)
            if not osp.exists(target):
                os.makedirs(osp.dirname(target), exist_ok=True)
                os.symlink(osp.join(root, 'unlabeled', name), target)
        return dict(root=root, retrieval=retrieval, size=size, unlabeled=len(unlabeled))


def data_loader_workers() -> int:
    """Loader processes for the training rows: most cores, none where /dev/shm is too small to pass
    batches between processes (a container's 64 MB default)."""
    try:
        shm_free = shutil.disk_usage('/dev/shm').free
    except OSError:
        shm_free = 0
    return min(12, max(1, (os.cpu_count() or 2) - 2)) if shm_free >= 2 ** 30 else 0


def environment(suite: Suite) -> dict:
    """Device, versions and machine of the run."""
    import mmcv
    import mmengine
    import mmpretrain
    import mmseg
    import numpy
    import torch

    import rs_ssl_plugin
    info = dict(python=sys.version.split()[0], torch=torch.__version__, cuda=torch.version.cuda,
                cudnn=torch.backends.cudnn.version(), numpy=numpy.__version__, mmengine=mmengine.__version__,
                mmcv=mmcv.__version__, mmsegmentation=mmseg.__version__, mmpretrain=mmpretrain.__version__,
                rs_ssl_plugin=rs_ssl_plugin.__version__, cpus=os.cpu_count(), loader_workers=suite.num_workers)
    if suite.device.type == 'cuda':
        props = torch.cuda.get_device_properties(0)
        info.update(device=props.name, capability=f'{props.major}.{props.minor}',
                    gpu_memory_gib=round(props.total_memory / 2 ** 30, 1))
    else:
        info.update(device='cpu')
    return info


# Training rows -------------------------------------------------------------------------------------------

def train_settings(suite: Suite) -> dict:
    """Iterations and batch per training row: a few dozen iterations at the configs' batch (FALSE's 256
    is cut to 64 so that loading keeps up); a few tiny ones in the dry run."""
    if suite.dry_run:
        return dict(iters=3, batch=2)
    return dict(iters=30, batch=64)


def for_short_run(cfg, work_dir: str, iters: int, batch: int, num_workers: int, dataset: dict):
    """The config trimmed to ``iters`` training iterations without validation, checkpoints or distributed
    wrappers, its loader reading ``dataset`` (repeated so that an epoch holds several batches) and its
    epoch-based LR schedule compressed onto the run."""
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.pop('model_wrapper_cfg', None)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg', 'test_dataloader', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=5)
    cfg.log_processor = dict(by_epoch=False)
    loader = cfg.train_dataloader
    loader.update(batch_size=batch, num_workers=num_workers, persistent_workers=False, drop_last=True)
    loader.sampler = dict(type='InfiniteSampler', shuffle=True)
    loader.dataset = dict(type='RepeatDataset', times=16, dataset=dict(loader.dataset, **dataset))
    epochs = max(1, iters // 4)
    for scheduler in cfg.get('param_scheduler') or []:
        if scheduler.get('by_epoch') and scheduler.get('convert_to_iter_based'):
            scheduler.update(begin=0, end=epochs)
    return cfg


def loss_recorder(record: dict):
    """A Runner hook recording each iteration's losses, time and loss scale into ``record`` (which the row
    keeps if it times out)."""
    from mmengine.hooks import Hook

    class LossRecorder(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None):
            """Start the iteration's clock."""
            self.start = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            """Keep the total loss, the components and the iteration's time (loading included)."""
            record['iteration_s'].append(round(time.perf_counter() - self.start, 4))
            record['losses'].append(float(outputs['loss']))
            record['last_components'] = {k: round(float(v), 5) for k, v in outputs.items() if k.startswith('loss')}
            scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
            if scaler is not None and scaler.is_enabled():
                record['loss_scale'] = float(scaler.get_scale())

    record.update(losses=[], iteration_s=[])
    return LossRecorder()


def train_config(suite: Suite, name: str) -> dict:
    """The shipped config of one method, prepared for a short run on the generated scenes; returns the
    config and what the row reports about it."""
    from mmengine.config import Config

    from rs_ssl_plugin.datasets.pipeline_config import find_transform
    from rs_ssl_plugin.engine.runner_config import enable_amp
    data, settings = suite.data(), train_settings(suite)
    tiny = suite.dry_run
    vit = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
    if name == 'false':
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam.py'))
        enable_amp(cfg, 'bfloat16')  # as benchmarked: tools/train.py --amp-dtype bfloat16
        cfg.optim_wrapper.optimizer.lr = 4.8 * settings['batch'] / 256  # the official LR is for 256 images
        dataset = dict(data_root=data['root'], data_prefix='unlabeled')
        if tiny:
            cfg.model.backbone.update(depth=18, stem_channels=8, base_channels=8)
            cfg.model.neck.update(in_channels=64, hid_channels=32, out_channels=16)
            find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 16
    elif name == 'sdcluster':
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py'))  # AMP as released
        dataset = dict(data_root=data['root'], data_prefix='unlabeled')
        if tiny:
            cfg.model.backbone.update(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
            cfg.model.neck.update(in_channels=128, hidden_channels=32, out_channels=16)
            cfg.model.prototypes.update(num_prototypes=8, dim=16)
            cfg.model.predictor.update(in_channels=16, hidden_channels=32, out_channels=16)
            find_transform(cfg.train_dataloader.dataset.pipeline, 'OverlappingMultiCrop').update(global_size=32)
    elif name == 'sdsh':
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdsh_vit-s14_aid-64bit.py'))
        enable_amp(cfg)  # SDSHAmpOptimWrapper: fp16 with a dynamic loss scale on CUDA, as DINOv2 trains
        cfg.model.backbone.init_cfg = None  # random start: no DINOv2 weights on the machine
        cfg.custom_hooks[0].epoch_length = 1  # its 10 warm-up "epochs" fit the run
        dataset = dict(type='RetrievalImageFolder', data_root=data['retrieval'])
        if tiny:
            head = dict(num_prototypes=64, hidden_channels=32, bottleneck_channels=16)
            cfg.model.backbone.update(arch=vit, img_size=28, local_img_size=14, patch_size=7, hash_bits=16,
                                      ibot_channels=16)
            cfg.model.dino_head.update(head)
            cfg.model.ibot_head.update(head)
            find_transform(cfg.train_dataloader.dataset.pipeline, 'SDSHMultiCrop').update(
                global_size=28, local_size=14, num_local=2)
            cfg.train_dataloader.collate_fn.update(mask_grid=(4, 4), min_mask_patches=1, max_mask_patches=8)
    elif name == 'iddc':
        cfg = Config.fromfile(osp.join(REPO, 'configs', 'iddc_vit-s16_potsdam3.py'))  # fp32 as released
        settings['batch'] = max(settings['batch'], 3)  # its negatives pair each image with two others
        cfg.model.backbone.init_cfg = None  # random frozen ViT: no DINO weights on the machine
        dataset = dict(data_root=data['root'], data_prefix=dict(img_path='img_dir/train',
                                                                seg_map_path='ann_dir/train'))
        if tiny:
            cfg.model.backbone.update(arch=vit, patch_size=8, img_size=32)
            cfg.model.head.in_channels = 32
            cfg.model.data_preprocessor.size = (32, 32)
            find_transform(cfg.train_dataloader.dataset.pipeline, 'AnisotropicRandomResize').min_size = 32
            find_transform(cfg.train_dataloader.dataset.pipeline, 'OverlappingCropPair').crop_size = 32
    else:
        raise ValueError(f'no training row for {name!r}')
    cfg = for_short_run(cfg, osp.join(suite.scratch, f'work_{name}'), settings['iters'],
                        settings['batch'], suite.num_workers, dataset)
    return cfg


def train_row(suite: Suite, name: str, record: dict) -> dict:
    """Train one method's config through the Runner; the losses, whether they are finite and falling,
    the optimiser wrapper and autocast dtype actually built, and the throughput with loading."""
    import numpy as np
    from mmengine.runner import Runner
    cfg = train_config(suite, name)
    record.update(config=osp.basename(cfg.filename), batch=cfg.train_dataloader.batch_size,
                  iterations=cfg.train_cfg.max_iters, loader_workers=cfg.train_dataloader.num_workers)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(loss_recorder(record), priority='VERY_LOW')
    runner.train()
    wrapper = runner.optim_wrapper
    record.update(optim_wrapper=type(wrapper).__name__,
                  precision=str(getattr(wrapper, 'cast_dtype', None) or 'float32').replace('torch.', ''))
    losses = record['losses']
    k = max(1, len(losses) // 5)
    steady = record['iteration_s'][3:] or record['iteration_s']
    record.update(finite=bool(np.isfinite(losses).all()), first_loss=float(np.mean(losses[:k])),
                  last_loss=float(np.mean(losses[-k:])), falling=bool(np.mean(losses[-k:]) < np.mean(losses[:k])),
                  img_per_s=record['batch'] / statistics.median(steady))
    return record


# Benchmark rows ------------------------------------------------------------------------------------------

def bench_false(suite: Suite, record: dict) -> dict:
    """bench/bench_false.py: loss and step against the floor and mmpretrain's SimCLR (full preset)."""
    import bench_false
    if suite.dry_run:
        return bench_false.run('cpu', 'tiny', loss_batch=16, warmup=1, iters=1, with_simclr=True)
    return bench_false.run('cuda', 'full', with_simclr=True)


def bench_sdcluster(suite: Suite, record: dict) -> dict:
    """bench/bench_sdcluster.py: the step against its floor at batch 64, 224 px, fp16 (full preset)."""
    import bench_sdcluster
    if suite.dry_run:
        return bench_sdcluster.run('cpu', 'tiny', warmup=1, iters=1)
    return bench_sdcluster.run('cuda', 'full')


def bench_sdsh(suite: Suite, record: dict) -> dict:
    """bench/bench_sdsh.py: the step against the bare backbone at batch 64, bf16 (full preset)."""
    import bench_sdsh
    if suite.dry_run:
        return bench_sdsh.run('cpu', 'tiny', warmup=1, iters=1, rounds=1)
    return bench_sdsh.run('cuda', 'full')


def bench_infer_tiles(suite: Suite, record: dict) -> dict:
    """bench/bench_infer_tiles.py: a 6000 x 6000 scene, crop 512, stride 341, bf16, against stock slide."""
    import bench_infer_tiles
    if suite.dry_run:
        return bench_infer_tiles.run('cpu', size=96, crop=48, stride=32, depth=18, channels=16, batch_size=4,
                                     amp='none', iters=1)
    return bench_infer_tiles.run('cuda', size=6000, crop=512, stride=341, depth=50, channels=512, batch_size=16,
                                 amp='bf16', iters=3)


def input_pipeline(suite: Suite, record: dict) -> dict:
    """bench/bench_input_pipeline.py end to end: the DataLoader reading JPEG crops from disk with every core
    feeding each method's ``train_step`` at its config's batch, against the in-memory step (targets: within
    15 %, device stage <= 5 % of the step). The dry run: FALSE with a narrow ResNet-18 on 64 px views at batch 2
    on the generated scenes."""
    import bench_input_pipeline

    from rs_ssl_plugin.datasets.pipeline_config import find_transform
    if suite.dry_run:
        unlabeled = osp.join(suite.data()['root'], 'unlabeled')

        def narrow(cfg):
            cfg.model.backbone.update(depth=18, base_channels=8, stem_channels=8)
            cfg.model.neck.update(in_channels=64, hid_channels=32, out_channels=16)
            find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 64

        return dict(false=bench_input_pipeline.end_to_end('false', 'cpu', batch=2, workers=0, warmup=1, steps=1,
                                                          data_dir=unlabeled, configure=narrow))
    for method in INPUT_PIPELINE_METHODS:  # partial results stay in the record if the row runs out of time
        record[method] = bench_input_pipeline.end_to_end(method, 'cuda', warmup=3, steps=10, num_images=256)
    return {method: record[method] for method in INPUT_PIPELINE_METHODS}


def cuda_tests(suite: Suite, record: dict) -> dict:
    """The tests that run only on CUDA (mixed precision against AmpOptimWrapper, the FALSE loss)."""
    if suite.dry_run:
        raise RowNotAvailable('the CUDA tests need a GPU')
    command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-k', 'cuda',
               'tests/engine/test_mixed_precision.py', 'tests/methods/false/test_false_loss.py']
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    record.update(command=' '.join(command[2:]), returncode=result.returncode,
                  summary=(result.stdout.strip().splitlines() or [''])[-1])
    if result.returncode:
        raise RuntimeError(f'CUDA tests failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}')
    return record


ROW_FUNCTIONS = dict(
    data=lambda suite, record: suite.data(),
    train_false=lambda suite, record: train_row(suite, 'false', record),
    train_sdcluster=lambda suite, record: train_row(suite, 'sdcluster', record),
    train_sdsh=lambda suite, record: train_row(suite, 'sdsh', record),
    train_iddc=lambda suite, record: train_row(suite, 'iddc', record),
    bench_false=bench_false, bench_sdcluster=bench_sdcluster, bench_sdsh=bench_sdsh,
    bench_infer_tiles=bench_infer_tiles, input_pipeline=input_pipeline, cuda_tests=cuda_tests)
assert list(ROW_FUNCTIONS) == [row for row, _ in ROWS]


def row_budget(name: str, pending: list, deadline: float, dry_run: bool) -> float:
    """The row's share of the time left, its weight over the weights of the rows still to run (equal
    weights in the dry run, whose rows are all tiny), and at least ``MIN_BUDGET_S`` while that is left."""
    left = max(0.0, deadline - time.time())
    weights = {row: 1 if dry_run else WEIGHTS[row] for row in pending}
    return min(left, max(MIN_BUDGET_S, left * weights[name] / sum(weights.values())))


def run_row(suite: Suite, name: str, budget: float) -> dict:
    """One row under its budget: status ok / timeout / failed / not available, wall time, peak GPU memory
    and its result (what it had recorded so far if it stopped early)."""
    torch = suite.torch
    record, outcome = {}, dict(status='ok')
    if suite.device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    start = time.time()
    alarm = Alarm(budget)
    try:
        with alarm:
            record = ROW_FUNCTIONS[name](suite, record) or record
    except RowNotAvailable as reason:
        outcome = dict(status='not available', error=str(reason))
    except Exception:  # a failing row is recorded and the suite goes on
        if alarm.fired:
            outcome = dict(status='timeout', error=f'stopped after its budget of {budget:.0f} s')
        else:
            outcome = dict(status='failed', error=clipped(traceback.format_exc()))
    outcome.update(wall_s=round(time.time() - start, 2), budget_s=round(budget, 1), result=record)
    if suite.device.type == 'cuda':
        outcome['peak_gpu_mem_mib'] = round(torch.cuda.max_memory_allocated() / 2 ** 20)
        gc.collect()
        torch.cuda.empty_cache()
    return outcome


def worker(args) -> None:
    """Run ``args.rows`` in turn, appending one JSON line per event to ``args.events``."""
    sys.path.insert(0, BENCH)
    sys.path.insert(0, REPO)
    suite = Suite(args.dry_run, args.scratch)
    if args.dry_run:  # tiny tensors: one thread, no waiting on the other cores of a busy machine
        suite.torch.set_num_threads(1)
    emit(args.events, event='env', env=environment(suite))
    pending = list(args.rows)
    while pending:
        name = pending[0]
        budget = row_budget(name, pending, args.deadline, args.dry_run)
        emit(args.events, event='start', row=name, time=time.time(), budget_s=budget)
        if budget < 1:
            outcome = dict(status='skipped', error='no time left before the deadline')
        else:
            outcome = run_row(suite, name, budget)
        emit(args.events, event='end', row=name, outcome=outcome)
        pending.pop(0)


# The parent: no torch, runs and watches the worker (supervisor.py), writes the JSON -----------------------

def run_suite(args, argv: list) -> dict:
    """Run the selected rows until done or out of time; write and return the report (``argv``: the
    command line, for the record)."""
    deadline = time.time() + args.budget
    os.makedirs(args.out_dir, exist_ok=True)
    pending = [row for row, _ in ROWS if not args.rows or row in args.rows]
    command = ' '.join(['python', 'bench/gpu_suite/gpu_suite.py', *argv])
    header = dict(suite='rs_ssl_plugin GPU suite', schema=1, command=command, dry_run=args.dry_run)
    report = Report(osp.join(args.out_dir, 'gpu_suite.json'), header, deadline, pending)
    report.write()

    def worker_command(rows: list, events: str, scratch: str) -> list:
        return [sys.executable, osp.abspath(__file__), '--worker', '--rows', ','.join(rows),
                '--deadline', str(deadline), '--events', events, '--scratch', scratch] + \
            (['--dry-run'] if args.dry_run else [])

    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [REPO, env.get('PYTHONPATH')]))
    supervise(worker_command, REPO, env, pending, report, deadline,
              osp.join(args.out_dir, 'gpu_suite_worker.log'))
    report.write()
    return report.data


def parse_args(argv=None):
    """The command-line options (the worker's are internal)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default=os.environ.get('OUT', 'work_dirs/gpu_suite'),
                        help='folder for gpu_suite.json and the worker log (default: $OUT, else work_dirs/gpu_suite)')
    parser.add_argument('--budget', type=float, default=None,
                        help='seconds for all rows (default: 340 on the GPU, 120 in the dry run)')
    parser.add_argument('--rows', type=lambda text: text.split(','), default=None,
                        help=f'comma-separated subset of {",".join(row for row, _ in ROWS)}')
    parser.add_argument('--dry-run', action='store_true', help='the same rows on the CPU with tiny presets')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--deadline', type=float, help=argparse.SUPPRESS)
    parser.add_argument('--events', help=argparse.SUPPRESS)
    parser.add_argument('--scratch', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.rows or []) - set(WEIGHTS)
    if unknown:
        parser.error(f'unknown rows {sorted(unknown)}; rows: {",".join(WEIGHTS)}')
    if args.budget is None:
        args.budget = 120.0 if args.dry_run else 340.0
    return args


def main(argv=None):
    """Run the suite (or, with the internal --worker, its rows) and print where the JSON is."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return None
    data = run_suite(args, argv)
    statuses = {row: (outcome or {}).get('status') for row, outcome in data['rows'].items()}
    print(f'[gpu_suite] {json.dumps(statuses)}\n[gpu_suite] wrote {osp.join(args.out_dir, "gpu_suite.json")}')
    return data


if __name__ == '__main__':
    main()
