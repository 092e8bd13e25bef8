"""Shared test helpers: the repository root, loading a tool script, running tools, the gloo process group, and
checks of what a Runner run learned, and a small fine-tuning data setup."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.hooks import Hook

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(name):
    """Import ``tools/<name>.py`` (a script, not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f'tool_{osp.basename(name)}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*args, timeout=300):
    """Run ``python <args>`` from the repository root in a fresh process; the CompletedProcess."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def shrink_finetune_data(cfg, data_root, crop=32):
    """A shipped UperNet fine-tuning config (the demo's or one of the Potsdam configs, ``RandomCrop`` at step 3)
    on ``data_root`` with ``crop`` px crops, batches of 2 and no worker processes."""
    cfg.model.data_preprocessor.size = (crop, crop)
    cfg.train_dataloader.dataset.pipeline[3].crop_size = (crop, crop)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
        cfg[loader].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 2


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


def run_in_processes(fn, world_size, *args, start_method='spawn', timeout=120):
    """``[fn(rank, *args) for rank in range(world_size)]``, each call in its own process of one gloo group
    (distributed tests on the CPU). ``fn`` must be a module-level function (spawned processes import it)."""
    ctx = mp.get_context(start_method)
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
