"""Distributed tests on the CPU: a function run in every process of a gloo group."""
import os
import socket

import torch.distributed as dist
import torch.multiprocessing as mp

from helpers.session import set_up_test_process


def free_port() -> int:
    """A TCP port of this machine that no process listens on now (for a process group's master)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gloo_process(fn, rank, world_size, port, out, args):
    set_up_test_process()  # as in the pytest process: its share of the cores, package configs looked up once
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    # results travel by value (numpy, Python numbers); shared tensors would vanish with this process
    out.put((rank, fn(rank, *args)))
    dist.barrier()
    dist.destroy_process_group()


# modules the fork server imports once, so that each test's processes start without importing the stack again
FORKSERVER_PRELOAD = ['torch', 'mmengine.runner', 'mmpretrain.models', 'mmseg.models', 'rs_ssl_plugin',
                      'helpers.distributed']


def run_in_processes(fn, world_size, *args, start_method='forkserver', timeout=120):
    """``[fn(rank, *args) for rank in range(world_size)]``, each call in its own process of one gloo group
    (distributed tests on the CPU). ``fn`` must be a module-level function (the processes import it). The
    processes are forked from a server process that imported the stack once (``FORKSERVER_PRELOAD``), not from
    this one, whose threads must not be forked."""
    ctx = mp.get_context(start_method)
    if start_method == 'forkserver':
        ctx.set_forkserver_preload(FORKSERVER_PRELOAD)
    out = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_gloo_process, args=(fn, rank, world_size, port, out, args))
             for rank in range(world_size)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=timeout) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0, f'a worker process exited with {p.exitcode}'
    return [results[rank] for rank in range(world_size)]
