"""Retrieval evaluation under 2 gloo processes (DefaultSampler shards, padding) equals one process."""
import torch

import rs_ssl_plugin  # noqa: F401
from helpers.distributed import run_in_processes

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
    from rs_ssl_plugin.methods.sdsh.metric import RetrievalMetric
    metric = RetrievalMetric(map_topk=(3, ), precision_at=(2, ))
    preds = predictions()
    for start in range(0, len(indices), 2):  # batches of 2, as a val loop would feed them
        metric.process(None, [preds[i] for i in indices[start:start + 2]])
    return metric.evaluate(NUM_SAMPLES)


def worker(rank):
    from mmengine.dataset import DefaultSampler
    return dict(evaluate(list(DefaultSampler(list(range(NUM_SAMPLES)), shuffle=False))))


def test_two_process_evaluation_equals_single_process():
    single = evaluate(list(range(NUM_SAMPLES)))
    # forked children inherit the imported plugin: no re-import per process
    results = run_in_processes(worker, WORLD_SIZE, start_method='fork')
    assert results[0] == results[1] == single
    assert set(single) == {'retrieval/mAP', 'retrieval/mAP@3', 'retrieval/P@2'}
