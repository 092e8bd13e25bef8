"""SDCluster's batches, built as its benchmark builds them (``bench/bench_sdcluster.py: make_batch``), and the
loop reference of its slot contrast, shared by its test files."""
import torch
import torch.nn.functional as F

from helpers.tools import load_bench

sdcluster_batch = load_bench('bench_sdcluster').make_batch


def reference_slot_contrast(slots, predictor, present, teacher_slots, teacher_present, tau=0.2):
    """Per query: the positive is the same image and prototype; the negatives every present teacher slot."""
    keys = [(b, k) for b in range(present.shape[0]) for k in range(present.shape[1]) if teacher_present[b, k]]
    losses = []
    for b, k in keys:
        if not present[b, k]:
            continue
        u = F.normalize(predictor(slots[b, k]), dim=0)
        logits = torch.stack([u @ F.normalize(teacher_slots[b2, k2], dim=0) for b2, k2 in keys]) / tau
        losses.append(-torch.log_softmax(logits, 0)[keys.index((b, k))])
    return 2 * tau * torch.stack(losses).mean()
