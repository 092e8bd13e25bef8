"""Timing helper shared by the benchmark scripts."""
import time

import torch


def timed(fn, device, warmup, iters):
    """Mean wall time of ``iters`` calls of ``fn`` after ``warmup`` calls (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters
