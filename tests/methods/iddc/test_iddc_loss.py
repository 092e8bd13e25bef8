"""IDDC loss terms against plain per-pair references written from the method description."""
import math

import pytest
import torch
import torch.nn.functional as F

from rs_ssl_plugin.methods.iddc.loss import (
    iddc_loss,
    negative_loss,
    positive_loss,
    sample_negative_shifts,
    weibull_balance_loss,
)

B, C, K, H, W = 4, 5, 3, 2, 3


def locations():
    return [(y, x) for y in range(H) for x in range(W)]


def reference_positive(f0, f1, p0, p1, gate):
    """Loop over every image and every (location of crop 0, location of crop 1) pair."""
    terms = []
    for n in range(f0.size(0)):
        for y, x in locations():
            for i, j in locations():
                cos = float(torch.dot(f0[n, :, y, x], f1[n, :, i, j]))
                if cos > gate:
                    agreement = torch.dot(p0[n, :, y, x], p1[n, :, i, j])
                    terms.append(torch.exp(1 - agreement) * max(cos, 1e-8))
    return torch.stack(terms).mean() if terms else torch.zeros(())


def reference_negative(f, p, shifts, gate):
    """Image n against image (n + k) mod B for each shift k; mean over the pairs, then over the shifts."""
    per_shift = []
    batch = f.size(0)
    for k in shifts:
        terms = []
        for n in range(batch):
            m = (n + k) % batch
            for y, x in locations():
                for i, j in locations():
                    cos = float(torch.dot(f[n, :, y, x], f[m, :, i, j]))
                    if cos < gate:
                        agreement = torch.dot(p[n, :, y, x], p[m, :, i, j])
                        terms.append(torch.exp(agreement) * (1 - max(cos, 0.0)))
        per_shift.append(torch.stack(terms).mean() if terms else torch.zeros(()))
    return torch.stack(per_shift).mean()


def reference_weibull(p, scale=5.0, shape=0.3):
    usage = [p[:, k].mean() for k in range(p.size(1))]
    largest = torch.stack(usage).max()  # the gradient flows through the max too
    densities = []
    for k in range(p.size(1)):
        x = usage[k] / largest + 1e-6
        densities.append(shape / scale * (x / scale) ** (shape - 1) * torch.exp(-(x / scale) ** shape))
    return torch.stack(densities).mean()


def random_inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats0, feats1 = (torch.randn(B, C, H, W, generator=gen, dtype=torch.float64) for _ in range(2))
    logits0, logits1 = (torch.randn(B, K, H, W, generator=gen, dtype=torch.float64, requires_grad=True)
                        for _ in range(2))
    return feats0, feats1, logits0, logits1


def test_positive_term_matches_reference_values_and_gradients():
    feats0, feats1, logits0, logits1 = random_inputs()
    f0, f1 = F.normalize(feats0, dim=1), F.normalize(feats1, dim=1)
    ours = positive_loss(f0, f1, logits0.softmax(1), logits1.softmax(1), gate=0.2)
    grads = torch.autograd.grad(ours, (logits0, logits1))
    ref = reference_positive(f0, f1, logits0.softmax(1), logits1.softmax(1), gate=0.2)
    ref_grads = torch.autograd.grad(ref, (logits0, logits1))
    assert torch.allclose(ours, ref)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r)


@pytest.mark.parametrize('shifts', [[1, 2, 1], [2]])
def test_negative_term_matches_reference(shifts):
    feats0, _, logits0, _ = random_inputs(1)
    f0 = F.normalize(feats0, dim=1)
    ours = negative_loss(f0, logits0.softmax(1), shifts, gate=0.12)
    ref = reference_negative(f0, logits0.softmax(1), shifts, gate=0.12)
    assert torch.allclose(ours, ref)
    assert torch.allclose(torch.autograd.grad(ours, logits0)[0], torch.autograd.grad(ref, logits0)[0])


def test_weibull_balance_matches_reference_and_published_shape():
    _, _, logits0, _ = random_inputs(2)
    ours = weibull_balance_loss(logits0.softmax(1))
    ref = reference_weibull(logits0.softmax(1))
    assert torch.allclose(ours, ref)
    assert torch.allclose(torch.autograd.grad(ours, logits0)[0], torch.autograd.grad(ref, logits0)[0])
    # density values of the Weibull(5, 0.3) term: flat for used clusters, steep for nearly empty ones
    for x, expected in ((1.0, 0.10), (0.5, 0.18), (0.1, 0.68), (0.01, 3.98), (0.001, 21.5)):
        usage = torch.tensor([1.0, x], dtype=torch.float64).view(1, 2, 1, 1)
        both = weibull_balance_loss(usage) * 2
        density_at_one = 0.3 / 5 * ((1 + 1e-6) / 5) ** -0.7 * math.exp(-((1 + 1e-6) / 5) ** 0.3)
        assert float(both) - density_at_one == pytest.approx(expected, rel=0.02)


def test_total_objective_weights():
    feats0, feats1, logits0, logits1 = random_inputs(3)
    terms = iddc_loss(feats0, feats1, logits0, logits1, shifts=[1, 2, 1], negative_weight=1.4,
                      balance_weight=0.4)
    f0, f1 = F.normalize(feats0, dim=1), F.normalize(feats1, dim=1)
    p0, p1 = logits0.softmax(1), logits1.softmax(1)
    expected = (reference_positive(f0, f1, p0, p1, 0.2) + 1.4 * reference_negative(f0, p0, [1, 2, 1], 0.12)
                + 0.4 * reference_weibull(p0) / 50)
    total = sum(v for k, v in terms.items() if k.startswith('loss'))
    assert torch.allclose(total, expected)
    usage = p0.mean(dim=(0, 2, 3))
    assert torch.allclose(terms['usage_neg_entropy'], (usage * usage.log()).mean())
    assert not terms['usage_neg_entropy'].requires_grad


def test_features_receive_no_gradient():
    feats0, feats1, logits0, logits1 = random_inputs(4)
    feats0.requires_grad_(True)
    terms = iddc_loss(feats0, feats1, logits0, logits1, shifts=[1])
    loss = terms['loss_pos'] + terms['loss_neg'] + terms['loss_bal']
    loss.backward()
    assert feats0.grad is None or float(feats0.grad.abs().max()) == 0.0
    assert logits0.grad is not None and float(logits0.grad.abs().max()) > 0


def test_empty_gates_give_zero_not_nan():
    feats0, feats1, logits0, logits1 = random_inputs(5)
    same = torch.ones(B, C, H, W, dtype=torch.float64)  # all cosines are 1: no negative passes F < 0.12
    opposite = -same  # all cosines are -1: no positive passes F > 0.2
    terms = iddc_loss(same, opposite, logits0, logits1, shifts=[1, 2])
    assert float(terms['loss_pos'].detach()) == 0.0 and float(terms['loss_neg'].detach()) == 0.0
    total = terms['loss_pos'] + terms['loss_neg'] + terms['loss_bal']
    total.backward()
    for tensor in (total, logits0.grad, logits1.grad):
        assert torch.isfinite(tensor).all()


def test_negative_shifts_range_and_small_batches():
    torch.manual_seed(0)
    draws = [s for _ in range(200) for s in sample_negative_shifts(6)]
    assert set(draws) == {1, 2, 3, 4}  # [1, B - 2]: never the image itself
    assert sample_negative_shifts(3) == [1, 1, 1]
    with pytest.raises(ValueError, match='at least 3'):
        sample_negative_shifts(2)
