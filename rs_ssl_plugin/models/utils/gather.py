"""All-gather that keeps gradients flowing to every rank's inputs."""
from typing import List

import torch
import torch.distributed as dist
from mmengine.dist import all_gather, get_rank, get_world_size


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: all-gather. Backward: sum the gradients of every rank's loss, keep this rank's slice.

    Summing (unlike mmpretrain's ``GatherLayer``, which keeps only the local gradient) is what makes
    per-rank losses over local rows, averaged by DDP, equal the single-process gradient.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor):
        return tuple(all_gather(tensor))

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        stacked = torch.stack(grads)
        dist.all_reduce(stacked)
        return stacked[get_rank()]


def all_gather_with_grad(tensor: torch.Tensor) -> List[torch.Tensor]:
    """Gather ``tensor`` from all ranks (list ordered by rank); a no-op list outside distributed runs."""
    if get_world_size() == 1:
        return [tensor]
    return list(_AllGatherWithGrad.apply(tensor))
