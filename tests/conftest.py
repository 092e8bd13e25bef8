"""Shared test helpers: the repository root, loading a tool script, running tools, the gloo process group, and
checks of what a Runner run learned, small fine-tuning and pre-training setups, and bitwise comparison."""
import contextlib
import copy
import importlib.util
import io
import os
import os.path as osp
import runpy
import socket
import subprocess
import sys
import traceback

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.hooks import Hook

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _share_the_cores_between_test_processes():
    """Under pytest-xdist (``make test`` runs ``-n 2``) every test process gets its share of the cores for
    torch's threads, instead of each using all of them."""
    processes = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if processes > 1:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // processes))


def _look_up_package_configs_once():
    """mmengine resolves every ``mmseg::``/``mmpretrain::`` base by reading all of the package's metafiles first
    (212 YAML files for mmseg, about 0.6 s a base, before it falls back to the ``_base_`` folder); the tests load
    hundreds of configs, so each lookup is made once per process, its answer or error kept."""
    from mmengine.config import utils
    look_up, answers = utils._get_cfg_metainfo, {}

    def once(package_path, cfg_path):
        key = (package_path, cfg_path)
        if key not in answers:
            try:
                answers[key] = (look_up(package_path, cfg_path), None)
            except ValueError as error:
                answers[key] = (None, error)
        found, error = answers[key]
        if error is not None:
            raise error
        return copy.deepcopy(found)

    utils._get_cfg_metainfo = once


_share_the_cores_between_test_processes()
_look_up_package_configs_once()


def load_tool(name):
    """Import ``tools/<name>.py`` (a script, not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f'tool_{osp.basename(name)}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*args, timeout=300):
    """Run ``python <args>`` from the repository root in a fresh process; the CompletedProcess. For what only a
    new interpreter shows (import-time warnings, the entry point); :func:`call_tool` is faster otherwise."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def call_tool(script, *args):
    """``python <script> <args>`` from the repository root, run in this process (``runpy``, as ``__main__``).

    The result has the ``returncode``, ``stdout`` and ``stderr`` a subprocess would give: ``sys.exit('error:
    ...')`` is status 1 with the message on stderr, an uncaught exception status 1 with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    returncode = 0
    argv = sys.argv
    sys.argv = [str(script), *map(str, args)]
    with contextlib.chdir(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(str(script), run_name='__main__')
        except SystemExit as stop:
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
            returncode = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except Exception:  # reported as the interpreter would report it
            traceback.print_exc()
            returncode = 1
        finally:
            sys.argv = argv
    return subprocess.CompletedProcess([script, *args], returncode, out.getvalue(), err.getvalue())


def shrink_finetune_data(cfg, data_root, crop=32, num_workers=0):
    """A shipped UperNet fine-tuning config (the demo's or one of the Potsdam configs) with ``RandomCrop``
    on ``data_root`` with ``crop`` px crops, batches of 2 and ``num_workers`` non-persistent loader workers."""
    from rs_ssl_plugin.datasets.pipeline_config import find_transform
    cfg.model.data_preprocessor.size = (crop, crop)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'RandomCrop').crop_size = (crop, crop)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=num_workers, persistent_workers=False)
        cfg[loader].dataset.data_root = str(data_root)
    cfg.train_dataloader.batch_size = 2


def make_false_pretraining_learn(cfg, data_root, work_dir):
    """A shipped FALSE pre-training config on the 8 unlabelled crops of a tiny synthetic set for 4 iterations
    that learn: every batch holds all 8 crops, the views are easy (32 px crops and flips, no photometric stage)
    and the LR is high, so that the loss falls within the run."""
    from rs_ssl_plugin.datasets.pipeline_config import find_transform
    cfg.work_dir = work_dir
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    pipeline = cfg.train_dataloader.dataset.pipeline
    crop = find_transform(pipeline, ('FastRandomResizedCrop', 'RandomResizedCrop'))  # RGB or 4-band FALSE
    crop.update(scale=32, crop_ratio_range=(0.5, 1.0))
    pipeline.remove(find_transform(pipeline, 'PhotometricAugment'))
    cfg.optim_wrapper.optimizer.lr = 48.
    cfg.train_cfg.max_epochs = 4
    cfg.param_scheduler[0].end = 4
    cfg.default_hooks.checkpoint.interval = 4
    cfg.default_hooks.logger.interval = 1
    return cfg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gloo_process(fn, rank, world_size, port, out, args):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    # results travel by value (numpy, Python numbers); shared tensors would vanish with this process
    out.put((rank, fn(rank, *args)))
    dist.barrier()
    dist.destroy_process_group()


# modules the fork server imports once, so that each test's processes start without importing the stack again
FORKSERVER_PRELOAD = ['torch', 'mmengine.runner', 'mmpretrain.models', 'mmseg.models', 'rs_ssl_plugin', 'conftest']


def run_in_processes(fn, world_size, *args, start_method='forkserver', timeout=120):
    """``[fn(rank, *args) for rank in range(world_size)]``, each call in its own process of one gloo group
    (distributed tests on the CPU). ``fn`` must be a module-level function (the processes import it). The
    processes are forked from a server process that imported the stack once (``FORKSERVER_PRELOAD``), not from
    this one, whose threads must not be forked."""
    ctx = mp.get_context(start_method)
    if start_method == 'forkserver':
        ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    out = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_gloo_process, args=(fn, rank, world_size, port, out, args))
             for rank in range(world_size)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=timeout) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, f'a worker process exited with {p.exitcode}'
    return [results[rank] for rank in range(world_size)]


class StateAtStart(Hook):
    """The model's weights when training starts (after the Runner initialised them)."""

    def before_train(self, runner):
        self.state = {k: v.clone() for k, v in runner.model.state_dict().items()}


def assert_loss_falls(runner, iterations, margin=0.1, name='loss'):
    """The loss the Runner logged at every iteration: the last is below the first by ``margin``."""
    losses = runner.message_hub.get_scalar(f'train/{name}').data[0]
    assert len(losses) == iterations
    assert losses[-1] < losses[0] - margin, losses


def assert_trained(exported, initial, prefix='backbone.', unused=()):
    """Every floating-point tensor of the exported backbone moved away from its initial value, except those the
    loss does not reach (names starting with one of ``unused``), which kept it."""
    assert exported
    same = {k[len(prefix):] for k, v in exported.items()
            if v.is_floating_point() and torch.equal(v, initial[k[len(prefix):]])}
    assert same == {k for k in same if k.startswith(tuple(unused))} == {
        k for k, v in initial.items() if v.is_floating_point() and k.startswith(tuple(unused))}, same


def last_val_metrics(runner):
    """The metrics the Runner logged at its last validation (name -> value), without the timings."""
    return {k[len('val/'):]: v.current() for k, v in runner.message_hub.log_scalars.items()
            if k.startswith('val/') and k not in ('val/time', 'val/data_time')}


def assert_same_metrics(metrics, validated):
    """Every logged validation metric has the same value (NaN for NaN: a class absent from the data)."""
    assert validated and set(validated) <= set(metrics)
    np.testing.assert_equal({k: float(metrics[k]) for k in validated}, {k: float(v) for k, v in validated.items()})


@pytest.fixture(scope='session')
def synthetic_potsdam(tmp_path_factory):
    """A tiny synthetic Potsdam (4 train, 2 val, 8 unlabeled 64 px scenes) shared by the tests of a session."""
    from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
    root = tmp_path_factory.mktemp('synthetic') / 'potsdam'
    make_synthetic_potsdam(str(root), num_train=4, num_val=2, num_unlabeled=8, size=64, seed=3)
    return str(root)


def tiny_upernet_config(data_root, work_dir, num_workers=0):
    """configs/demo/upernet_r18_false_synthetic.py (UperNet R18, dropout 0.1, ResumableCheckpointHook, seed 0)
    shrunk for CPU tests: 8-channel stem, 32 px crops, 16-channel heads, no pre-trained backbone, 6 iterations
    validated and checkpointed every 3."""
    from mmengine.config import Config

    from rs_ssl_plugin.datasets.pipeline_config import find_transform
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'upernet_r18_false_synthetic.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.update(init_cfg=None, stem_channels=8, base_channels=8)
    cfg.model.decode_head.update(in_channels=[8, 16, 32, 64], channels=16)
    cfg.model.auxiliary_head.update(in_channels=32, channels=8)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'RandomResize').scale = (64, 64)
    shrink_finetune_data(cfg, data_root, num_workers=num_workers)
    cfg.train_cfg.update(max_iters=6, val_interval=3)
    cfg.param_scheduler[0].end = 6
    cfg.default_hooks.checkpoint.update(interval=3, max_keep_ckpts=2)
    cfg.default_hooks.logger.interval = 1
    return cfg


def tiny_false_config(data_root, work_dir, num_workers=0):
    """configs/demo/false_r18_synthetic.py (FALSE, ResNet-18, SimCLR augmentations) shrunk for CPU tests:
    8-channel stem, 32 px views, batches of 4 (2 per epoch), 3 epochs checkpointed every epoch."""
    from mmengine.config import Config

    from rs_ssl_plugin.datasets.pipeline_config import find_transform
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py'))
    cfg.work_dir = str(work_dir)
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.neck.update(in_channels=64, hid_channels=32, out_channels=16)
    cfg.train_dataloader.update(batch_size=4, num_workers=num_workers, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = str(data_root)
    find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 32
    cfg.train_cfg.max_epochs = 3
    cfg.param_scheduler[0].end = 3
    cfg.default_hooks.checkpoint.update(interval=1, max_keep_ckpts=3)
    cfg.default_hooks.logger.interval = 1
    return cfg


def assert_identical(a, b, where='checkpoint'):
    """``a`` and ``b`` hold the same values bitwise: tensors, numpy arrays, mmengine's HistoryBuffers and
    the containers and plain values around them."""
    from mmengine.logging import HistoryBuffer
    assert type(a) is type(b), f'{where}: {type(a).__name__} vs {type(b).__name__}'
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), f'{where} differs'
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and np.array_equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert list(a) == list(b), f'{where}: keys {list(a)} vs {list(b)}'
        for key in a:
            assert_identical(a[key], b[key], f'{where}.{key}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f'{where}: {len(a)} vs {len(b)} items'
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f'{where}[{i}]')
    elif isinstance(a, HistoryBuffer):
        assert_identical(vars(a), vars(b), where)
    else:
        assert a == b, f'{where}: {a!r} vs {b!r}'
