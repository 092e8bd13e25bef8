"""SDCluster's warm-up cosine schedule against timm's scheduler."""
import math

import torch

from rs_ssl_plugin.methods.sdcluster.scheduler import timm_warmup_cosine_factor


def test_timm_schedule_matches_timm():
    from timm.scheduler import CosineLRScheduler
    total, warmup = 100, 20
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.25e-3)
    timm_sched = CosineLRScheduler(optimizer, t_initial=total, lr_min=2.5e-7, warmup_lr_init=2.5e-7,
                                   warmup_t=warmup, cycle_limit=1, t_in_epochs=False)
    for t in range(total):
        timm_sched.step_update(t)
        expected = optimizer.param_groups[0]['lr']
        assert math.isclose(1.25e-3 * timm_warmup_cosine_factor(t / total), expected, rel_tol=1e-9), t
    assert math.isclose(timm_warmup_cosine_factor(0.2), 0.905, abs_tol=1e-3)  # the drop after warm-up
