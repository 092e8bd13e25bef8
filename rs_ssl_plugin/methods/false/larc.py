"""LARC, FALSE's optimizer: SGD with layer-wise adaptive rate control."""
from collections import defaultdict
from typing import Iterable

import torch
from mmpretrain.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class LARC(torch.optim.SGD):
    """SGD with layer-wise adaptive rate control, as apex's ``LARC(clip=False)`` wrapping SGD.

    For every parameter tensor with non-zero weight and gradient norms::

        g <- (g + wd * w) * trust_coefficient * ||w|| / (||g|| + wd * ||w|| + eps)

    then the ``torch.optim.SGD`` update (momentum buffer of the adapted gradient, then the learning rate;
    weight decay is not applied twice). Tensors with a zero norm get neither scaling nor weight decay, as in apex.
    The trust ratio applies to all parameters (BN and bias included), which is what FALSE's VISSL config
    does; exclude weight decay per group through ``paramwise_cfg`` (e.g. ``norm_decay_mult=0``).

    Unlike mmpretrain's ``LARS`` this keeps everything on the device (no per-tensor ``.item()``), uses
    multi-tensor kernels, and keeps the learning rate out of the momentum buffer.

    Args:
        params (Iterable): Parameters or parameter-group dicts to optimise (mmengine passes the groups built
            from ``paramwise_cfg``); a group may set its own ``trust_coefficient`` and ``eps``.
        lr (float): Learning rate (FALSE: the peak 4.8, driven by :class:`VISSLCosineRestartLR`).
        momentum (float): Momentum factor of the SGD update. Defaults to 0.9.
        weight_decay (float): L2 weight decay, added to the gradient before the trust-ratio scaling.
            Defaults to 0.0.
        trust_coefficient (float): LARC's trust coefficient ``eta``, scaling ``||w|| / ||g||``.
            Defaults to 0.001.
        eps (float): Added to the denominator of the trust ratio for stability. Defaults to 1e-8.
        nesterov (bool): Whether to use Nesterov momentum. Defaults to False.
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 0.001, eps: float = 1e-8, nesterov: bool = False):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        for group in self.param_groups:
            group.setdefault('trust_coefficient', trust_coefficient)
            group.setdefault('eps', eps)

    @torch.no_grad()
    def step(self, closure=None):
        """One LARC-scaled SGD step over all parameter groups; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # mmengine's paramwise options create one group per tensor; bucketing groups with equal
        # hyperparameters keeps the update at a few multi-tensor kernels instead of ~10 per tensor
        for hyper, params in self._buckets().items():
            self._update(params, **dict(hyper))
        return loss

    def _buckets(self):
        buckets = defaultdict(list)
        for group in self.param_groups:
            hyper = tuple((k, group[k]) for k in ('lr', 'momentum', 'dampening', 'nesterov', 'weight_decay',
                                                  'trust_coefficient', 'eps'))
            buckets[hyper].extend(p for p in group['params'] if p.grad is not None)
        return buckets

    def _update(self, params, lr, momentum, dampening, nesterov, weight_decay, trust_coefficient, eps):
        grads = [p.grad for p in params]
        param_norms = torch.stack(torch._foreach_norm(params))
        grad_norms = torch.stack(torch._foreach_norm(grads))
        adaptive = (param_norms > 0) & (grad_norms > 0)
        trust = trust_coefficient * param_norms / (grad_norms + weight_decay * param_norms + eps)
        scale = torch.where(adaptive, trust, torch.ones_like(trust))
        decay = torch.where(adaptive, torch.full_like(trust, weight_decay), torch.zeros_like(trust))
        updates = torch._foreach_add(grads, torch._foreach_mul(params, decay.unbind()))
        torch._foreach_mul_(updates, scale.unbind())
        if momentum:
            buffers = [self.state[p].get('momentum_buffer') for p in params]
            if any(b is None for b in buffers):  # first step: the buffer starts as the update (torch SGD)
                buffers = [u.clone() if b is None else b.mul_(momentum).add_(u, alpha=1 - dampening)
                           for b, u in zip(buffers, updates)]
                for p, b in zip(params, buffers):
                    self.state[p]['momentum_buffer'] = b
            else:
                torch._foreach_mul_(buffers, momentum)
                torch._foreach_add_(buffers, updates, alpha=1 - dampening)
            updates = torch._foreach_add(updates, buffers, alpha=momentum) if nesterov else buffers
        torch._foreach_add_(params, updates, alpha=-lr)
