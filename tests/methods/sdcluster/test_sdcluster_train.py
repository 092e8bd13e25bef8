"""SDCluster's training step: the initial losses against the official sanity values, the teacher's EMA, the loss
as the pairwise recomposition with the other view's teacher (local crops adding pairs), and the teacher's
drop path."""
import copy
import math
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from helpers.sdcluster import reference_slot_contrast, sdcluster_batch
from helpers.tools import REPO
from rs_ssl_plugin.methods.sdcluster.loss import (
    align_to_overlap,
    pixel_distillation_loss,
    prototype_presence,
    sinkhorn_knopp,
)

TINY_SWIN = dict(type='SwinTransformerOS16', embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4),
                 drop_path_rate=0.1)


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


def model_inputs(batch):
    """The views of a batch (uint8, as loaded) as the model's float inputs in [-1, 1], and its data samples."""
    return [v.float() / 127.5 - 1 for v in batch['inputs']], batch['data_samples']


def test_initial_loss_near_official_sanity_value():
    """Spec 1.6: at random init, B=4 noise images, one process: L_SD ~ 5.71/5.67, L_CTR ~ 2.05/2.08."""
    torch.manual_seed(0)
    model = build_sdcluster(backbone=None)
    inputs, samples = model_inputs(sdcluster_batch(4, 224))
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
    inputs, samples = model_inputs(sdcluster_batch(2, 64))
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
    inputs, samples = model_inputs(sdcluster_batch(2, 64, num_local=2))
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
    inputs, samples = model_inputs(sdcluster_batch(2, 64, num_local=2))
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
    inputs, samples = model_inputs(sdcluster_batch(2, 64))
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
