"""SDSH loss terms against plain loop references, and the full loss against a per-crop recomposition."""
import math

import pytest
import torch
from test_sdsh_common import build_tiny_sdsh

from rs_ssl_plugin.methods.sdsh import loss as losses


def ce_reference(t, s, temp=0.1):
    """-sum_k t_k log softmax(s / temp)_k for one row, written out."""
    logits = [float(v) / temp for v in s]
    top = max(logits)
    log_z = top + math.log(sum(math.exp(v - top) for v in logits))
    return -sum(float(tk) * (v - log_z) for tk, v in zip(t, logits))


def test_cross_entropy_rows():
    g = torch.Generator().manual_seed(0)
    t = torch.softmax(torch.randn(5, 7, generator=g), -1)
    s = torch.randn(5, 7, generator=g)
    got = losses.cross_entropy(t, s, 0.1)
    assert torch.allclose(got.double(), torch.tensor([ce_reference(t[i], s[i]) for i in range(5)]).double(),
                          atol=1e-4)


def test_centering_and_center_ema():
    z = torch.randn(4, 6)
    c = torch.randn(1, 6)
    probs = losses.centered_teacher_softmax(z, c, 0.04)
    for i in range(4):
        e = [math.exp((float(z[i, k]) - float(c[0, k])) / 0.04 - max((z[i] - c[0]).tolist()) / 0.04)
             for k in range(6)]
        assert torch.allclose(probs[i].double(), torch.tensor([v / sum(e) for v in e]).double(), atol=1e-6)
    assert torch.allclose(losses.ema_center(c, z.mean(0, keepdim=True), 0.9), 0.9 * c + 0.1 * z.mean(0), atol=1e-7)


def test_dino_local_and_global_terms():
    g = torch.Generator().manual_seed(1)
    batch, k, n_local = 3, 8, 4
    teacher = [torch.softmax(torch.randn(batch, k, generator=g), -1) for _ in range(2)]
    local = [torch.randn(batch, k, generator=g) for _ in range(n_local)]
    num_terms = 2 + 2 * n_local
    expected = 0.
    for v in range(n_local):
        for t in range(2):
            expected += sum(ce_reference(teacher[t][b], local[v][b]) for b in range(batch)) / batch
    got = losses.dino_local_loss(teacher, local, num_terms)
    assert float(got) == pytest.approx(expected / num_terms, rel=1e-5)

    student_global = torch.randn(2 * batch, k, generator=g)
    swapped = torch.cat([teacher[1], teacher[0]])
    expected = sum(ce_reference(swapped[r], student_global[r]) for r in range(2 * batch)) / (2 * batch)
    got = losses.dino_global_loss(swapped, student_global, num_terms)
    assert float(got) == pytest.approx(2 * expected / num_terms, rel=1e-5)


def test_ibot_masked_loss_per_crop_mean():
    g = torch.Generator().manual_seed(2)
    masks = torch.tensor([[1, 1, 0, 0, 1], [0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    k = 6
    n = int(masks.sum())
    t = torch.softmax(torch.randn(n, k, generator=g), -1)
    s = torch.randn(n, k, generator=g)
    expected, row = 0., 0
    for crop in range(masks.size(0)):
        count = int(masks[crop].sum())
        terms = []
        for _ in range(count):
            terms.append(ce_reference(t[row], s[row]))
            row += 1
        if count:
            expected += sum(terms) / count
    expected /= masks.size(0)  # crops without a mask still count
    assert float(losses.ibot_masked_loss(t, s, masks)) == pytest.approx(expected, rel=1e-5)


def test_koleo_nearest_neighbour_reference():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    rows = [[float(v) for v in r] for r in x]
    normed = [[v / math.sqrt(sum(w * w for w in r)) for v in r] for r in rows]
    total = 0.
    for i, a in enumerate(normed):
        best = min((sum((ai - bi) ** 2 for ai, bi in zip(a, b)), j) for j, b in enumerate(normed) if j != i)[1]
        distance = math.sqrt(sum((ai - bi + 1e-6) ** 2 for ai, bi in zip(a, normed[best])))
        total += -math.log(distance + 1e-6)
    assert float(losses.koleo_loss(x)) == pytest.approx(total / len(rows), rel=1e-5)


def test_koleo_gradient_spreads_points():
    x = torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]], requires_grad=True)
    losses.koleo_loss(x).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_hash_quantization_loss():
    u = torch.tensor([[0.5, -2.0], [1.0, 0.0]])
    assert float(losses.hash_quantization_loss(u)) == pytest.approx((0.5 + 1.0 + 0.0 + 1.0) / 4)


def test_full_sdsh_loss_matches_per_crop_recomposition():
    """SDSH.loss == the spec's formula recomputed crop by crop with the model's own modules.

    Weights are made random enough for the codes to depend on the crop (at init all crops look alike), and the
    teacher is moved away from the student, so that a student module used where the teacher's belongs (or the
    reverse) shows; each student crop is compared with the teacher of the other crop."""
    torch.manual_seed(0)
    model = build_tiny_sdsh(loss_weights=dict(dino=1.0, ibot=0.5, koleo=0.3, hash_reg=0.2))
    model.eval()  # no drop path, so the student is deterministic
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        for p in model.teacher.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch, n_local = 3, 2
    inputs = [torch.randn(batch, 3, 28, 28) for _ in range(2)] + [torch.randn(batch, 3, 14, 14)
                                                                  for _ in range(n_local)]
    from mmpretrain.structures import DataSample
    samples = []
    masks = torch.zeros(batch, 2, 4, 4, dtype=torch.bool)
    masks[0, 0, :2, :2] = True
    masks[2, 1, 1:, 3] = True
    for b in range(batch):
        sample = DataSample()
        sample.set_mask(masks[b])
        samples.append(sample)
    model.teacher_temp = 0.05
    center = torch.randn_like(model.dino_center) * 0.1
    ibot_center = torch.randn_like(model.ibot_center) * 0.1
    model.dino_center.copy_(center)
    model.ibot_center.copy_(ibot_center)
    with torch.no_grad():
        got = model.loss(inputs, samples)

        bb, tb = model.backbone, model.teacher.backbone
        t_u = [tb.forward_hash(inputs[c])['hash'] for c in range(2)]
        t_p = [losses.centered_teacher_softmax(model.teacher.dino_head(t_u[c]), center, 0.05) for c in range(2)]
        s_glob = [bb.forward_hash(inputs[c], masks[:, c]) for c in range(2)]
        s_loc = [model.dino_head(bb.forward_hash(inputs[2 + v])['hash']) for v in range(n_local)]
        num_terms = 2 + 2 * n_local
        local = sum(losses.cross_entropy(t_p[t], s_loc[v]).mean() for v in range(n_local) for t in range(2))
        glob = sum(losses.cross_entropy(t_p[1 - c], model.dino_head(s_glob[c]['hash'])).sum() for c in range(2))
        ibot_terms = 0.
        for c in range(2):
            t_patch = tb.forward_hash(inputs[c])['ibot']
            for b in range(batch):
                m = masks[b, c].flatten()
                if m.any():
                    tp = losses.centered_teacher_softmax(model.teacher.ibot_head(t_patch[b][m]), ibot_center, 0.05)
                    ibot_terms += losses.cross_entropy(tp, model.ibot_head(s_glob[c]['ibot'][b][m])).mean()
        u = torch.cat([s_glob[0]['hash'], s_glob[1]['hash']])
        t_logits = torch.cat([model.teacher.dino_head(t_u[c]) for c in range(2)])
        t_patch_logits = torch.cat([
            model.teacher.ibot_head(tb.forward_hash(inputs[c])['ibot'][masks[:, c].flatten(1)]) for c in range(2)])
        swapped_glob = sum(losses.cross_entropy(t_p[c], model.dino_head(s_glob[c]['hash'])).sum() for c in range(2))
    assert float(got['loss_dino_local']) == pytest.approx(float(local) / num_terms, rel=1e-4)
    assert float(got['loss_dino_global']) == pytest.approx(2 * float(glob) / (2 * batch) / num_terms, rel=1e-4)
    assert float(got['loss_ibot']) == pytest.approx(0.5 * float(ibot_terms) / (2 * batch), rel=1e-4)
    koleo = losses.koleo_loss(s_glob[0]['hash']) + losses.koleo_loss(s_glob[1]['hash'])
    assert float(got['loss_koleo']) == pytest.approx(0.3 * float(koleo), rel=1e-4)
    assert float(got['loss_hash_reg']) == pytest.approx(0.2 * float((u.abs() - 1).abs().mean()), rel=1e-4)
    # centres moved towards this batch's teacher means, after being used
    assert not torch.allclose(model.dino_center, center)
    torch.testing.assert_close(model.dino_center, 0.9 * center + 0.1 * t_logits.mean(0, keepdim=True))
    torch.testing.assert_close(model.ibot_center, 0.9 * ibot_center + 0.1 * t_patch_logits.mean(0, keepdim=True))
    # the data tell the crops apart: the global term with each crop's own teacher is another number (by more
    # than 10 times the tolerance above)
    assert float(swapped_glob) != pytest.approx(float(glob), rel=1e-3)


def test_default_loss_weights_are_the_released_config():
    model = build_tiny_sdsh()
    assert model.loss_weights == dict(dino=1.0, ibot=1.0, koleo=0.0, hash_reg=0.01)
    with pytest.raises(KeyError, match='unknown SDSH loss weights'):
        build_tiny_sdsh(loss_weights=dict(koleo_weight=1.0))


def test_batch_without_masked_patches_keeps_ibot_center_and_trains():
    """A rank may draw no masked patch: the iBOT path still runs (same collectives and DDP parameter use on
    every rank), its loss is 0, and the iBOT centre is unchanged."""
    from mmpretrain.structures import DataSample
    torch.manual_seed(0)
    model = build_tiny_sdsh()
    inputs = [torch.randn(2, 3, 28, 28) for _ in range(2)] + [torch.randn(2, 3, 14, 14)]
    samples = []
    for _ in range(2):
        sample = DataSample()
        sample.set_mask(torch.zeros(2, 4, 4, dtype=torch.bool))
        samples.append(sample)
    ibot_center = model.ibot_center.clone()
    out = model.loss(inputs, samples)
    assert out['loss_ibot'].item() == 0.0
    assert torch.equal(model.ibot_center, ibot_center)
    sum(v for k, v in out.items() if k.startswith('loss')).backward()
    assert all(p.grad is not None for p in model.ibot_head.parameters() if p.requires_grad)
