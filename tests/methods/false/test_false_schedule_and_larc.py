import pytest
import torch
from mmengine.optim import OptimWrapper

from rs_ssl_plugin.methods.false.larc import LARC
from rs_ssl_plugin.methods.false.scheduler import VISSLCosineRestartLR, vissl_warmup_cosine_restart_factor

# (training progress, learning rate) read off VISSL's scheduler for FALSE's config (peak 4.8)
SPEC_SAMPLES = [(0.0, 0.6), (0.1, 3.597), (0.2, 2.70), (0.3, 0.91), (0.5, 0.30), (0.6, 0.89), (0.8, 0.90),
                (0.9, 0.31), (0.99, 0.009)]


@pytest.mark.parametrize('progress, lr', SPEC_SAMPLES)
def test_curve_matches_spec_samples(progress, lr):
    assert 4.8 * vissl_warmup_cosine_restart_factor(progress) == pytest.approx(lr, abs=0.006)


def test_curve_shape():
    lrs = [4.8 * vissl_warmup_cosine_restart_factor(i / 1000) for i in range(1000)]
    assert lrs[99] == pytest.approx(0.6 + 4.2 * 0.099 / 0.1, rel=1e-6)  # linear warm-up
    minimum = min(range(100, 600), key=lrs.__getitem__)
    assert 0.39 <= minimum / 1000 <= 0.41 and lrs[minimum] == pytest.approx(0.0048, abs=1e-3)
    second_peak = max(range(minimum, 1000), key=lrs.__getitem__)
    assert 0.69 <= second_peak / 1000 <= 0.71 and lrs[second_peak] == pytest.approx(1.195, abs=2e-3)


def test_scheduler_sets_optimizer_lr_per_iteration():
    param = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([param], lr=4.8)
    scheduler = VISSLCosineRestartLR.build_iter_from_epoch(
        OptimWrapper(optimizer), begin=0, end=10, by_epoch=True, epoch_length=100)
    seen = []
    for _ in range(1000):
        seen.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    for progress, lr in SPEC_SAMPLES:
        assert seen[int(progress * 1000)] == pytest.approx(lr, abs=0.006)


def reference_larc_sgd_step(params, grads, bufs, lr, momentum, weight_decay, trust, eps=1e-8):
    """apex LARC(clip=False) around torch SGD, one tensor at a time."""
    for i, (p, g) in enumerate(zip(params, grads)):
        g = g.clone()
        p_norm, g_norm = p.norm(), g.norm()
        if p_norm != 0 and g_norm != 0:
            adaptive = trust * p_norm / (g_norm + p_norm * weight_decay + eps)
            g = (g + weight_decay * p) * adaptive
        bufs[i] = g if bufs[i] is None else momentum * bufs[i] + g
        params[i] = p - lr * bufs[i]
    return params, bufs


def test_larc_matches_reference_over_steps():
    torch.manual_seed(0)
    shapes = [(4, 3), (3, ), (5, ), (2, 2)]
    params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    with torch.no_grad():
        params[2].zero_()  # zero-norm tensor: neither scaling nor weight decay
    # one group per tensor, as mmengine's paramwise options build them
    optimizer = LARC([dict(params=[p]) for p in params], lr=0.5, momentum=0.9, weight_decay=1e-2,
                     trust_coefficient=0.01)
    ref = [p.detach().clone() for p in params]
    bufs = [None] * len(params)
    for step in range(4):
        grads = [torch.randn(s) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        lr = 0.5 / (step + 1)  # the learning rate stays outside the momentum buffer
        for group in optimizer.param_groups:
            group['lr'] = lr
        optimizer.step()
        ref, bufs = reference_larc_sgd_step(ref, grads, bufs, lr, 0.9, 1e-2, 0.01)
    for p, r in zip(params, ref):
        torch.testing.assert_close(p.detach(), r)
    assert optimizer.param_groups[0]['weight_decay'] == 1e-2


def test_larc_matches_torch_sgd_when_trust_is_disabled_by_zero_norms():
    """With zero-norm weights LARC leaves gradients alone: the update is exactly torch SGD's."""
    param = torch.nn.Parameter(torch.zeros(3))
    twin = torch.nn.Parameter(torch.zeros(3))
    larc = LARC([param], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5)
    sgd = torch.optim.SGD([twin], lr=0.1, momentum=0.9, nesterov=True)
    grad = torch.tensor([1.0, -2.0, 0.5])
    param.grad, twin.grad = grad.clone(), grad.clone()
    larc.step()
    sgd.step()
    torch.testing.assert_close(param.detach(), twin.detach())
    torch.testing.assert_close(larc.state[param]['momentum_buffer'], sgd.state[twin]['momentum_buffer'])
