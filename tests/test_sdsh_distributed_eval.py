"""Retrieval evaluation under 2 gloo processes (DefaultSampler shards, padding) equals one process."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import rs_ssl_plugin  # noqa: F401

WORLD_SIZE = 2
NUM_SAMPLES = 11  # odd: the sampler pads rank 1 with a duplicate of sample 0


def predictions():
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(NUM_SAMPLES, 6, generator=g)
    codes[7] = codes[1]  # Hamming ties between database items, broken by database order
    labels = torch.randint(0, 3, (NUM_SAMPLES, ), generator=g)
    return [dict(hash_feature=codes[i], gt_label=labels[i:i + 1], is_query=i >= 7, sample_idx=i)
            for i in range(NUM_SAMPLES)]


def evaluate(indices):
    from rs_ssl_plugin.evaluation.retrieval_metric import RetrievalMetric
    metric = RetrievalMetric(map_topk=(3, ), precision_at=(2, ))
    preds = predictions()
    for start in range(0, len(indices), 2):  # batches of 2, as a val loop would feed them
        metric.process(None, [preds[i] for i in indices[start:start + 2]])
    return metric.evaluate(NUM_SAMPLES)


def worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=WORLD_SIZE)
    from mmengine.dataset import DefaultSampler
    indices = list(DefaultSampler(list(range(NUM_SAMPLES)), shuffle=False))
    result = evaluate(indices)
    if rank == 0:
        out.put(dict(result))
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_evaluation_equals_single_process():
    single = evaluate(list(range(NUM_SAMPLES)))
    ctx = mp.get_context('fork')  # the children inherit the imported plugin: no re-import per process
    out = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=worker, args=(rank, port, out)) for rank in range(WORLD_SIZE)]
    for p in procs:
        p.start()
    result = out.get(timeout=120)
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    assert result == single and set(single) == {'retrieval/mAP', 'retrieval/mAP@3', 'retrieval/P@2'}
