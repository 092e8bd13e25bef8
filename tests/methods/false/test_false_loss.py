"""FALSE loss against a plain per-row reference written from the method description; FALSE.loss against the
loss of its own modules' embeddings."""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from helpers.tools import REPO
from rs_ssl_plugin.methods.false.loss import false_loss

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def reference_false_loss(z, temperature=0.5, alpha=1.0, threshold=0.9, sentinel=math.inf):
    """Straightforward loop version of FALSE on one device, VISSL row order.

    The similarity matrix is computed like the implementation (same device and precision), so that
    near-tied distances resolve the same way; the selection and calibration are plain Python."""
    z = F.normalize(z, dim=1)
    rows = z.size(0)
    half = rows // 2
    sim = torch.exp(z @ z.t() / temperature)
    positive = [(i + half) % rows for i in range(rows)]
    pos_sim = [sim[i, positive[i]] for i in range(rows)]
    distance = [[sentinel] * rows for _ in range(rows)]
    for i in range(rows):
        for j in range(i + 1, rows):
            if j != positive[i]:
                distance[i][j] = abs(float(sim[i, j].detach()) - float(pos_sim[i].detach()))
    smallest = min(min(r) for r in distance)
    numerators, denominators = [], []
    for i in range(rows):
        numerator = pos_sim[i]
        denominator = pos_sim[i]
        for j in range(rows):
            if j in (i, positive[i]):
                continue
            denominator = denominator + sim[i, j]
            anchor_ok = temperature * math.log(float(pos_sim[i].detach())) >= threshold
            if distance[i][j] == smallest and anchor_ok:
                numerator = numerator + alpha * sim[i, j]
        numerators.append(numerator)
        denominators.append(denominator)
    losses = [-torch.log(n / d) for n, d in zip(numerators, denominators)]
    return torch.stack(losses).mean()


def nt_xent(z, temperature):
    """SimCLR NT-Xent over VISSL-ordered rows: cross-entropy of the positive against all others."""
    z = F.normalize(z.double(), dim=1)
    rows = z.size(0)
    logits = z @ z.t() / temperature
    logits = logits.masked_fill(torch.eye(rows, dtype=torch.bool), -math.inf)
    target = (torch.arange(rows) + rows // 2) % rows
    return F.cross_entropy(logits, target)


def near_duplicate_batch(num_images=6, dim=16, seed=0):
    """Views of one image nearly equal (cos > 0.9) and images 1 and 4 nearly the same scene."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(num_images, dim, generator=g)
    base[4] = base[1] + 0.05 * torch.randn(dim, generator=g)
    views = [base + 0.1 * torch.randn(num_images, dim, generator=g) for _ in range(2)]
    return torch.cat(views)


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('alpha', [1.0, 0.7])
def test_matches_reference_on_random_batches(seed, alpha):
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(seed))
    # threshold -1 lets every anchor qualify so the calibration is exercised on random data
    loss, _ = false_loss(z, confidence_weight=alpha, positive_threshold=-1.0)
    expected = reference_false_loss(z, alpha=alpha, threshold=-1.0)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('seed', range(4))
def test_matches_reference_on_near_duplicates(seed, device):
    z = near_duplicate_batch(seed=seed)
    loss, pairs = false_loss(z.to(device))
    expected = reference_false_loss(z.to(device))
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    assert pairs.item() >= 1, 'the near-duplicate pair should be detected'
    assert loss.cpu() < nt_xent(z, 0.5), 'moving a false negative to the positives lowers the loss'


def sentinel_batch():
    """Positives with cos ~ 1 and negatives with cos < 0.5: every valid distance exceeds 3."""
    directions = torch.eye(8)[:4] - 0.4 * torch.eye(8)[4:]
    directions = directions / directions.norm(dim=1, keepdim=True)
    z = torch.cat([directions, directions + 1e-4])
    sim = torch.exp(F.normalize(z, dim=1) @ F.normalize(z, dim=1).t() / 0.5)
    positive = (torch.arange(8) + 4) % 8
    candidates = torch.ones(8, 8, dtype=torch.bool).triu(1)
    candidates[torch.arange(8), positive] = False
    distance = (sim - sim[torch.arange(8), positive][:, None]).abs()
    assert distance[candidates].min() >= 3.0
    return z


@pytest.mark.parametrize('device', DEVICES)
def test_sentinel_three_reproduces_official_degenerate_case(device):
    z = sentinel_batch()
    z = z.to(device)
    official, official_pairs = false_loss(z, sentinel=3.0)
    torch.testing.assert_close(official, reference_false_loss(z, sentinel=3.0), rtol=1e-5, atol=1e-6)
    fixed, fixed_pairs = false_loss(z, sentinel=math.inf)
    torch.testing.assert_close(fixed, reference_false_loss(z), rtol=1e-5, atol=1e-6)
    # with 3.0 every lower-triangle negative becomes a positive; with inf only the closest pair does
    assert official_pairs.item() > fixed_pairs.item() >= 1
    assert official < fixed


@pytest.mark.parametrize('z', [torch.randn(12, 8), near_duplicate_batch()])
def test_alpha_zero_equals_simclr(z):
    loss, _ = false_loss(z, temperature=0.5, confidence_weight=0.0, positive_threshold=-1.0)
    torch.testing.assert_close(loss.double(), nt_xent(z, 0.5), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('alpha', [0.3, 1.0])
def test_calibration_moves_mass_between_positive_and_negative_terms(alpha):
    """Official form: AP[a,n] = alpha*S_an, AN[a,n] = (1-alpha)*S_an, loss = -log(P / (P + N)).

    P + N must stay the SimCLR denominator and the plugin's loss must equal this form."""
    z = near_duplicate_batch(seed=3)
    rows = z.size(0)
    zn = F.normalize(z.double(), dim=1)
    sim = torch.exp(zn @ zn.t() / 0.5)
    positive = (torch.arange(rows) + rows // 2) % rows
    pos_mask = torch.zeros(rows, rows, dtype=torch.bool)
    pos_mask[torch.arange(rows), positive] = True
    neg_mask = ~pos_mask & ~torch.eye(rows, dtype=torch.bool)
    from rs_ssl_plugin.methods.false.loss import select_false_negatives
    selected = select_false_negatives(sim.float(), 0.5, 0.9)
    assert selected.any()
    AP = sim * pos_mask + alpha * sim * selected
    AN = sim * neg_mask * torch.where(selected, 1 - alpha, 1.0)
    P, N = AP.sum(1), AN.sum(1)
    torch.testing.assert_close(P + N, sim.masked_fill(torch.eye(rows, dtype=torch.bool), 0).sum(1))
    loss, _ = false_loss(z, confidence_weight=alpha)
    torch.testing.assert_close(loss.double(), -torch.log(P / (P + N)).mean(), rtol=1e-5, atol=1e-6)


def test_gradient_matches_reference():
    z = near_duplicate_batch(seed=1).requires_grad_()
    false_loss(z)[0].backward()
    z_ref = z.detach().clone().requires_grad_()
    reference_false_loss(z_ref).backward()
    torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-4, atol=1e-6)


def test_anchor_rows_average_to_full_loss():
    z = near_duplicate_batch(seed=2)
    full, _ = false_loss(z)
    halves = [false_loss(z, anchor_rows=torch.tensor(rows))[0] for rows in ([0, 1, 2, 6, 7, 8],
                                                                           [3, 4, 5, 9, 10, 11])]
    torch.testing.assert_close((halves[0] + halves[1]) / 2, full)


def test_odd_row_count_is_rejected():
    with pytest.raises(ValueError, match='expects'):
        false_loss(torch.randn(5, 4))


def build_small_false():
    """The config's FALSE with a ResNet-18 (plain BN) and a small projector, in float64; every anchor qualifies
    for calibration (threshold -1) so that the false-negative selection is part of the comparison."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'false_r50_potsdam.py')).model
    cfg.backbone.update(depth=18, norm_cfg=dict(type='BN'))
    cfg.neck.update(in_channels=512, hid_channels=64, out_channels=16)
    cfg.head.update(positive_threshold=-1.0)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.double()


def two_views(num_images=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(num_images, 3, 32, 32, generator=g, dtype=torch.float64)
    images[4] = images[1] + 0.05 * torch.randn(3, 32, 32, generator=g, dtype=torch.float64)  # a near duplicate
    return [images, 0.8 * images.flip(-1) + 0.1 * torch.randn(images.shape, generator=g, dtype=torch.float64)]


def test_model_loss_is_false_loss_of_both_views_embeddings():
    """FALSE.loss == false_loss of [embeddings of all first views; of all second views] with the head's settings.

    Train mode: the two views share one backbone pass (BN statistics over both); eval mode: each view alone."""
    model = build_small_false()
    views = two_views()
    train_model = copy.deepcopy(model).train()
    got = train_model.loss(views, None)
    with torch.no_grad():
        z = model.train().neck(model.backbone(torch.cat(views)))[0]
    expected, pairs = false_loss(z, temperature=0.5, confidence_weight=1.0, positive_threshold=-1.0)
    torch.testing.assert_close(got['loss'], expected)
    assert got['false_negative_pairs'].item() == pairs.item() >= 1

    model.eval()
    got = model.loss(views, None)
    with torch.no_grad():
        z = [model.neck(model.backbone(v))[0] for v in views]
    expected, pairs = false_loss(torch.cat(z), temperature=0.5, confidence_weight=1.0, positive_threshold=-1.0)
    torch.testing.assert_close(got['loss'], expected)
    assert got['false_negative_pairs'].item() == pairs.item()
