"""The collectives of the plugin's losses. Outside a process group each is the single-process result (a
one-element list, or the tensor itself), so the losses run unchanged without ``torch.distributed``."""
from typing import List

import torch
import torch.distributed as dist
from mmengine.dist import get_rank, get_world_size

__all__ = ['all_gather_no_grad', 'all_gather_with_grad', 'all_reduce_sum']


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: all-gather. Backward: sum the gradients of every rank's loss, keep this rank's slice.

    Summing (unlike mmpretrain's ``GatherLayer``, which keeps only the local gradient) is what makes
    per-rank losses over local rows, averaged by DDP, equal the single-process gradient.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor):
        return tuple(all_gather_no_grad(tensor))

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        stacked = torch.stack(grads)
        dist.all_reduce(stacked)
        return stacked[get_rank()]


def all_gather_with_grad(tensor: torch.Tensor) -> List[torch.Tensor]:
    """``tensor`` of every rank, in rank order; gradients flow back to each rank's own input."""
    if get_world_size() == 1:
        return [tensor]
    return list(_AllGatherWithGrad.apply(tensor))


def all_gather_no_grad(tensor: torch.Tensor) -> List[torch.Tensor]:
    """``tensor`` of every rank, in rank order, without gradient (same shape on every rank)."""
    if get_world_size() == 1:
        return [tensor]
    gathered = [torch.empty_like(tensor) for _ in range(get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    return gathered


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place and return it."""
    if get_world_size() > 1:
        dist.all_reduce(tensor)
    return tensor
