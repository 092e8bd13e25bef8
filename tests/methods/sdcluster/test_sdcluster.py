"""SDCluster: OS16 Swin layout, Sinkhorn, view alignment, losses against plain references, EMA, schedule,
converters, Runner pre-training -> export -> UperNet, and the cluster visualiser."""
import copy
import math
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from conftest import REPO
from rs_ssl_plugin.methods.sdcluster.backbone import SwinTransformerOS16
from rs_ssl_plugin.methods.sdcluster.loss import (
    align_to_overlap,
    filtered_slot_contrastive_loss,
    pixel_distillation_loss,
    prototype_presence,
    sinkhorn_knopp,
)
from rs_ssl_plugin.methods.sdcluster.scheduler import timm_warmup_cosine_factor
from rs_ssl_plugin.methods.sdcluster.views import OverlappingMultiCrop, RandomFlipViews

TINY_SWIN = dict(type='SwinTransformerOS16', embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                 drop_path_rate=0.1)


def official_swin_keys(depths=(2, 2, 18, 2)):
    """The official OS16 Swin key layout (spec 1.1), written out independently of the model code."""
    keys = ['patch_embed.proj.weight', 'patch_embed.proj.bias', 'patch_embed.norm.weight', 'patch_embed.norm.bias']
    for i, depth in enumerate(depths):
        for j in range(depth):
            block = f'layers.{i}.blocks.{j}.'
            keys += [block + k for k in (
                'norm1.weight', 'norm1.bias', 'attn.relative_position_bias_table', 'attn.relative_position_index',
                'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'norm2.weight',
                'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias')]
        if i < 2:
            keys += [f'layers.{i}.downsample.norm.weight', f'layers.{i}.downsample.norm.bias',
                     f'layers.{i}.downsample.reduction.weight']
        else:
            keys.append(f'layers.{i}.linear.weight')
        keys += [f'norm{i}.weight', f'norm{i}.bias']
    return keys


def test_swin_s_os16_layout_and_shapes():
    model = SwinTransformerOS16()
    assert sorted(model.state_dict()) == sorted(official_swin_keys())
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 2) == 49.13  # the official architecture's count (spec 1.1)
    assert model.layers[2].linear.weight.shape == (768, 384)
    assert model.layers[3].linear.weight.shape == (1536, 768)


def test_tiny_swin_strides_and_odd_sizes():
    init_default_scope('mmseg')
    model = SwinTransformerOS16(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 224, 224))
        assert [tuple(o.shape[1:]) for o in outs] == [(16, 56, 56), (32, 28, 28), (64, 14, 14), (128, 14, 14)]
        # the official script runs ClusterEval at native size: 300 x 410 -> 19 x 26 (spec 2)
        assert model(torch.rand(1, 3, 300, 410))[-1].shape[-2:] == (19, 26)


def official_sinkhorn(scores, temperature=0.07, iterations=3):
    """The official sequence of operations, one process."""
    q = torch.exp(scores.permute(1, 0, 2, 3).flatten(1).double() / temperature)
    columns, prototypes = q.shape[1], q.shape[0]
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= columns
    q *= columns
    return q.unflatten(1, (scores.shape[0], ) + scores.shape[2:]).permute(1, 0, 2, 3)


def test_sinkhorn_matches_official_sequence_and_marginals():
    scores = torch.rand(3, 16, 5, 4) * 2 - 1
    q = sinkhorn_knopp(scores)
    torch.testing.assert_close(q.double(), official_sinkhorn(scores), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(q.sum(1), torch.ones(3, 5, 4))  # every pixel is a distribution
    converged = sinkhorn_knopp(scores, iterations=200)
    mass = converged.sum(dim=(0, 2, 3))
    torch.testing.assert_close(mass, torch.full((16, ), 3 * 5 * 4 / 16), rtol=1e-4, atol=1e-4)


def coordinate_image(size=256):
    """uint8 would quantise; a float 'image' whose channels are the x and y pixel coordinates."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return np.stack([xs, ys, np.zeros_like(xs)], axis=-1)


def test_views_align_on_coordinate_image():
    """Aligned maps of two overlapping, independently flipped views show the same image coordinates."""
    np.random.seed(0)
    crops, flips = OverlappingMultiCrop(global_size=224), RandomFlipViews()
    errors = []
    for _ in range(20):
        results = flips(crops(dict(img=coordinate_image())))
        views = [torch.from_numpy(v).permute(2, 0, 1)[None, :2] for v in results['img']]
        feats = [F.avg_pool2d(v, 16) for v in views]  # a stride-16 "feature map" of coordinates
        flipped = torch.from_numpy(results['flip_flags'])
        gc, otc = torch.from_numpy(results['gc_bboxes']), torch.from_numpy(results['otc_bboxes'])
        a = align_to_overlap(feats[0], gc[None, 0, 1], flipped[None, 0])
        b = align_to_overlap(feats[1], otc[None, 1, 0], flipped[None, 1])
        errors.append((a - b).abs().mean().item())
    assert np.mean(errors) < 1.0, errors


def test_crops_are_resized_like_the_official_pil_pipeline():
    """The official views come from torchvision's resized_crop on PIL images (antialiased bilinear); on a
    noise image, the crops must be within one level of it (cv2's bilinear without antialiasing was up to 131
    levels away)."""
    import torchvision.transforms.functional as TF
    from PIL import Image
    np.random.seed(1)
    img = np.random.default_rng(0).integers(0, 256, (400, 360, 3), dtype=np.uint8)
    results = OverlappingMultiCrop(num_global=2, num_local=2, global_size=224, local_size=96)(dict(img=img))
    for crop, (x1, y1, x2, y2) in zip(results['img'], results['crop_boxes'].astype(int)):
        official = TF.resized_crop(Image.fromarray(img), y1, x1, y2 - y1, x2 - x1, list(crop.shape[:2]),
                                   interpolation=TF.InterpolationMode.BILINEAR)
        difference = np.abs(crop.astype(int) - np.asarray(official).astype(int))
        assert difference.max() <= 1 and difference.mean() < 0.3


def test_local_crops_and_collate():
    from mmcv.transforms import Compose
    from mmengine.dataset import default_collate
    init_default_scope('mmpretrain')
    pipeline = Compose([
        dict(type='OverlappingMultiCrop', num_global=2, num_local=3, global_size=64, local_size=32),
        dict(type='RandomFlipViews'),
        dict(type='PhotometricAugment', transforms=[dict(type='RandomGrayscale', prob=1.0, keep_channels=True)],
             on_device=True),
        dict(type='PackInputs', algorithm_keys=['gc_bboxes', 'otc_bboxes', 'flip_flags', 'photometric_params']),
    ])
    img = (np.random.rand(120, 100, 3) * 255).astype(np.uint8)
    batch = default_collate([pipeline(dict(img=img.copy())) for _ in range(2)])
    assert [tuple(v.shape) for v in batch['inputs']] == [(2, 3, 64, 64)] * 2 + [(2, 3, 32, 32)] * 3
    sample = batch['data_samples'][0]
    assert sample.gc_bboxes.shape == (2, 5, 4) and sample.otc_bboxes.shape == (5, 2, 4)
    assert sample.flip_flags.shape == (5, ) and sample.photometric_params.shape[0] == 5
    boxes = np.concatenate([sample.gc_bboxes.reshape(-1, 4), sample.otc_bboxes.reshape(-1, 4)])
    assert (boxes >= -1e-6).all() and (boxes <= 1 + 1e-6).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_pixel_distillation_loss_matches_loop():
    student, teacher = torch.randn(2, 6, 3, 3), sinkhorn_knopp(torch.randn(2, 6, 3, 3))
    total = 0.
    for b in range(2):
        for y in range(3):
            for x in range(3):
                log_p = torch.log_softmax(student[b, :, y, x] / 0.1, dim=0)
                total -= (teacher[b, :, y, x] * log_p).sum()
    torch.testing.assert_close(pixel_distillation_loss(student, teacher, 0.1), total / 18)


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


def test_filtered_slot_contrast_matches_reference():
    torch.manual_seed(0)
    predictor = torch.nn.Linear(8, 8)
    slots, teacher_slots = torch.randn(3, 5, 8), torch.randn(3, 5, 8)
    present = prototype_presence(torch.randn(3, 5, 4, 4))
    teacher_present = prototype_presence(torch.randn(3, 5, 4, 4))
    index = (present & teacher_present).flatten().nonzero().squeeze(1)
    queries = F.normalize(predictor(slots.flatten(0, 1)[index]), dim=-1)
    loss = filtered_slot_contrastive_loss(queries, index, F.normalize(teacher_slots, dim=-1), teacher_present)
    expected = reference_slot_contrast(slots, predictor, present & teacher_present, teacher_slots,
                                       teacher_present)
    torch.testing.assert_close(loss, expected)


def test_prototype_presence():
    scores = torch.zeros(1, 4, 2, 2)
    scores[0, 1, 0, 0] = scores[0, 3, 1, :] = scores[0, 3, 0, 1] = 1
    assert prototype_presence(scores).tolist() == [[False, True, False, True]]


def build_sdcluster(backbone=TINY_SWIN, max_iters=10):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py')).model
    if backbone is not None:
        cfg.backbone = backbone
        cfg.neck.in_channels = backbone['embed_dim'] * 8
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def fake_batch(model, batch_size, size=224, seed=0, num_local=0):
    """Overlapping views of noise images with their boxes, packed like the pipeline does."""
    from mmpretrain.structures import DataSample
    rng = np.random.RandomState(seed)
    np.random.seed(seed)
    crops = OverlappingMultiCrop(global_size=size, num_local=num_local, local_size=size // 2)
    flips = RandomFlipViews()
    views, samples = [[] for _ in range(2 + num_local)], []
    for _ in range(batch_size):
        results = flips(crops(dict(img=rng.rand(size + 32, size + 32, 3).astype(np.float32))))
        for v, img in enumerate(results['img']):
            views[v].append(torch.from_numpy(img).permute(2, 0, 1))
        sample = DataSample()
        for key in ('gc_bboxes', 'otc_bboxes', 'flip_flags'):
            sample.set_field(results[key], key)
        samples.append(sample)
    return [torch.stack(v) * 2 - 1 for v in views], samples


def test_initial_loss_near_official_sanity_value():
    """Spec 1.6: at random init, B=4 noise images, one process: L_SD ~ 5.71/5.67, L_CTR ~ 2.05/2.08."""
    torch.manual_seed(0)
    model = build_sdcluster(backbone=None)
    inputs, samples = fake_batch(model, 4)
    with torch.no_grad():
        losses = model.loss(inputs, samples)
    assert 5.55 < losses['loss_sd'].item() < 5.9  # 0.5 * (L_SD(1->2) + L_SD(2->1))
    assert 1.6 < losses['loss_ctr'].item() < 2.5
    assert 7.2 < (losses['loss_sd'] + losses['loss_ctr']).item() < 8.3


def test_training_step_and_teacher_ema():
    torch.manual_seed(0)
    model = build_sdcluster(max_iters=10)
    teacher, student = model.teacher.module, model._student_modules()
    for t, s in zip(teacher.parameters(), student.parameters()):
        assert torch.equal(t, s)
    inputs, samples = fake_batch(model, 2, size=64)
    losses = model.loss(inputs, samples)  # first call: the teacher copies the student
    sum(losses.values()).backward()
    assert model.backbone.patch_embed.proj.weight.grad is not None
    assert model.predictor.mlp[0].weight.grad is not None
    assert all(p.grad is None for p in model.teacher.parameters())
    before = [p.detach().clone() for p in teacher.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    model.loss(inputs, samples)  # second call: EMA step 1 of 10
    student_weight = 0.01 * (math.cos(math.pi * 1 / 10) + 1) / 2
    for old, new, s in zip(before, teacher.parameters(), student.parameters()):
        torch.testing.assert_close(new, old * (1 - student_weight) + s * student_weight)


def build_small_sdcluster(max_iters=10, **options):
    """The config's SDCluster with a tiny Swin, small projector and 8 prototypes (so that many prototypes are
    present in both views), no drop path: its loss is deterministic and can be recomputed exactly."""
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py')).model
    cfg.backbone = dict(TINY_SWIN, drop_path_rate=0.)
    cfg.neck.update(in_channels=128, hidden_channels=32, out_channels=16)
    cfg.prototypes.update(num_prototypes=8, dim=16)
    cfg.predictor.update(in_channels=16, hidden_channels=32, out_channels=16)
    cfg.update(options)
    MessageHub.get_current_instance().update_info('max_iters', max_iters)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def reference_pair_terms(model, inputs, samples, num_global=2):
    """SDCluster's loss rebuilt from the model's own modules and the pure loss functions, one view and one pair
    at a time, with the official constants (tau_s 0.1, tau_t 0.07, 3 Sinkhorn steps, tau_c 0.2, 14 x 14).

    Returns ``{(i, j): (L_sd, L_ctr)}`` for every global view i and later view j: the student of each view
    of the pair learns from the teacher of the *other* view, on the region the two views share."""
    teacher = model.teacher.module
    boxes_global = torch.stack([torch.as_tensor(s.gc_bboxes) for s in samples])  # (B, G, V, 4), view i's frame
    boxes_other = torch.stack([torch.as_tensor(s.otc_bboxes) for s in samples])  # (B, V, G, 4), view j's frame
    flipped = torch.stack([torch.as_tensor(s.flip_flags) for s in samples]).bool()
    student_scores, student_slots, targets, teacher_slots = [], [], [], []
    with torch.no_grad():
        for view in inputs:  # every view alone
            z = model.neck(model.backbone(view)[-1])
            student_scores.append(model.prototypes.scores(z))
            student_slots.append(model.prototypes.pool(z, student_scores[-1]))
            y = teacher['neck'](teacher['backbone'](view)[-1])
            scores = teacher['prototypes'].scores(y)
            targets.append(sinkhorn_knopp(scores, 0.07, 3))
            teacher_slots.append(teacher['prototypes'].pool(y, scores))

    def distill(student_view, student_box, teacher_view, teacher_box):
        student = align_to_overlap(student_scores[student_view], student_box, flipped[:, student_view], (14, 14))
        target = align_to_overlap(targets[teacher_view], teacher_box, flipped[:, teacher_view], (14, 14))
        return pixel_distillation_loss(student, target, 0.1)

    def contrast(student_view, teacher_view):
        teacher_present = prototype_presence(targets[teacher_view])
        both = prototype_presence(student_scores[student_view]) & teacher_present
        assert both.any()
        with torch.no_grad():
            return reference_slot_contrast(student_slots[student_view], model.predictor, both,
                                           teacher_slots[teacher_view], teacher_present, 0.2)

    terms = {}
    for i in range(num_global):
        for j in range(i + 1, len(inputs)):
            box_i, box_j = boxes_global[:, i, j], boxes_other[:, j, i]
            terms[(i, j)] = (distill(i, box_i, j, box_j) + distill(j, box_j, i, box_i),
                             contrast(i, j) + contrast(j, i))
    return terms


def mean_over_pairs(terms, pairs, distill_weight=0.5):
    return dict(loss_sd=distill_weight * sum(terms[p][0] for p in pairs) / len(pairs),
                loss_ctr=(1 - distill_weight) * sum(terms[p][1] for p in pairs) / len(pairs))


def assert_losses_close(got, expected):
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key].double(), value.double(), rtol=1e-5, atol=1e-6,
                                   msg=lambda text, key=key: f'{key}: {text}')


def test_loss_is_the_pairwise_recomposition_with_the_other_views_teacher():
    """SDCluster.loss == the mean over the (global, later view) pairs of the per-pair terms, each view's student
    against the other view's teacher, the teacher taken after this call's EMA step (which runs first)."""
    torch.manual_seed(0)
    model = build_small_sdcluster(max_iters=10).double()
    inputs, samples = fake_batch(model, 2, size=64, num_local=2)
    inputs = [v.double() for v in inputs]
    student = model._student_modules()
    with torch.no_grad():
        model.loss(inputs, samples)  # first call: the teacher copies the student
        for p in student.parameters():  # from now on teacher and student differ
            p.add_(0.05 * torch.randn_like(p))
        before = {k: v.clone() for k, v in model.teacher.module.named_parameters()}
        got = model.loss(inputs, samples)
    student_weight = 0.01 * (math.cos(math.pi * 1 / 10) + 1) / 2  # EMA step 1 of 10
    for (key, new), s in zip(model.teacher.module.named_parameters(), student.parameters()):
        torch.testing.assert_close(new, before[key] * (1 - student_weight) + s * student_weight, msg=key)
        assert not torch.equal(new, s)
    terms = reference_pair_terms(model, inputs, samples)
    assert sorted(terms) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]
    assert_losses_close(got, mean_over_pairs(terms, sorted(terms)))


def global_views_only(inputs, samples, num_global=2):
    """The same batch without its local crops (and their boxes)."""
    from mmpretrain.structures import DataSample
    cut = []
    for sample in samples:
        new = DataSample()
        new.set_field(sample.gc_bboxes[:, :num_global], 'gc_bboxes')
        new.set_field(sample.otc_bboxes[:num_global], 'otc_bboxes')
        new.set_field(sample.flip_flags[:num_global], 'flip_flags')
        cut.append(new)
    return inputs[:num_global], cut


def test_local_crops_add_pairs():
    """With 2 local crops the loss is the mean over the pairs (0,1), (0,2), (0,3), (1,2), (1,3); the same images
    without them give the (0,1) term alone."""
    torch.manual_seed(0)
    model = build_small_sdcluster().double()
    inputs, samples = fake_batch(model, 2, size=64, num_local=2)
    inputs = [v.double() for v in inputs]
    assert [v.shape[-1] for v in inputs] == [64, 64, 32, 32]
    without_local = copy.deepcopy(model)  # the same teacher step for both calls
    losses = model.loss(inputs, samples)  # pairs (0,1), (0,2), (0,3), (1,2), (1,3)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    terms = reference_pair_terms(model, inputs, samples)
    all_pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3)]
    assert_losses_close(losses, mean_over_pairs(terms, all_pairs))
    with torch.no_grad():
        global_losses = without_local.loss(*global_views_only(inputs, samples))
    assert_losses_close(global_losses, mean_over_pairs(terms, [(0, 1)]))
    assert not torch.isclose(losses['loss_sd'], global_losses['loss_sd'])  # the local pairs changed the loss


def test_teacher_drop_path_option():
    """teacher_drop_path=True: the teacher's pass inside loss() has stochastic depth (two passes on one input
    differ, and differ from the eval-mode pass); False: its pass is deterministic and equals the eval-mode pass."""
    torch.manual_seed(0)
    model = build_sdcluster()  # drop path 0.1
    model.train()
    inputs, samples = fake_batch(model, 2, size=64)
    backbone = model.teacher.module.backbone
    views = torch.cat(inputs)  # both 64 px views go through one teacher pass

    def teacher_passes():
        seen = []
        handle = backbone.register_forward_hook(lambda module, args, outs: seen.append(outs[-1].clone()))
        with torch.no_grad():
            model.loss(inputs, samples)
        handle.remove()
        (in_loss, ) = seen
        with torch.no_grad():
            again = backbone(views)[-1]  # in the mode loss() left the teacher in
            eval_pass = copy.deepcopy(backbone).eval()(views)[-1]
        return in_loss, again, eval_pass

    in_loss, again, eval_pass = teacher_passes()
    assert model.teacher.training
    assert not torch.allclose(in_loss, again) and not torch.allclose(in_loss, eval_pass)
    model.teacher_drop_path = False
    in_loss, again, eval_pass = teacher_passes()
    assert not model.teacher.training
    assert torch.equal(in_loss, again) and torch.equal(in_loss, eval_pass)


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
