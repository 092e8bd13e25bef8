"""Two gloo processes on CPU give the same Sinkhorn assignments and slot-contrast loss (value and query
gradients) as one process on the full batch."""
import torch
import torch.distributed as dist
import torch.nn.functional as F

from helpers.distributed import run_in_processes
from rs_ssl_plugin.methods.sdcluster.loss import filtered_slot_contrastive_loss, prototype_presence, sinkhorn_knopp

WORLD_SIZE = 2
PER_RANK = 3


def make_inputs():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(WORLD_SIZE * PER_RANK, 8, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    teacher_scores = torch.rand(WORLD_SIZE * PER_RANK, 8, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    slots = torch.randn(WORLD_SIZE * PER_RANK, 8, 5, generator=g, dtype=torch.float64)
    teacher_slots = F.normalize(torch.randn(WORLD_SIZE * PER_RANK, 8, 5, generator=g, dtype=torch.float64), dim=-1)
    return scores, teacher_scores, slots, teacher_slots


def contrast(scores, teacher_scores, slots, teacher_slots):
    """Sinkhorn of the teacher, presence masks and the slot contrast with ``slots`` as leaf queries."""
    assignments = sinkhorn_knopp(teacher_scores)
    present, teacher_present = prototype_presence(scores), prototype_presence(assignments)
    index = (present & teacher_present).flatten().nonzero().squeeze(1)
    slots = slots.clone().requires_grad_(True)
    loss = filtered_slot_contrastive_loss(F.normalize(slots.flatten(0, 1)[index], dim=-1), index, teacher_slots,
                                          teacher_present)
    loss.backward()
    return assignments, loss.detach(), slots.grad


def worker(rank):
    shard = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    assignments, loss, grad = contrast(*[t[shard] for t in make_inputs()])
    # DDP averages gradients over processes and the logged loss is the mean over processes
    dist.all_reduce(loss)
    return assignments.numpy().copy(), (loss / WORLD_SIZE).item(), (grad / WORLD_SIZE).numpy().copy()


def test_two_processes_equal_one():
    results = run_in_processes(worker, WORLD_SIZE)
    assignments, loss, grad = contrast(*make_inputs())
    torch.testing.assert_close(torch.cat([torch.from_numpy(r[0]) for r in results]), assignments)
    assert abs(results[0][1] - loss.item()) < 1e-10 and abs(results[1][1] - loss.item()) < 1e-10
    torch.testing.assert_close(torch.cat([torch.from_numpy(r[2]) for r in results]), grad)
