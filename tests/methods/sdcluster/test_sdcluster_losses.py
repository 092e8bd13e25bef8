"""SDCluster's loss functions against plain loop references: the pixel distillation, the filtered slot
contrast, and which prototypes are present."""
import torch
import torch.nn.functional as F

from helpers.sdcluster import reference_slot_contrast
from rs_ssl_plugin.methods.sdcluster.loss import (
    filtered_slot_contrastive_loss,
    pixel_distillation_loss,
    prototype_presence,
    sinkhorn_knopp,
)


def test_pixel_distillation_loss_matches_loop():
    student, teacher = torch.randn(2, 6, 3, 3), sinkhorn_knopp(torch.randn(2, 6, 3, 3))
    total = 0.
    for b in range(2):
        for y in range(3):
            for x in range(3):
                log_p = torch.log_softmax(student[b, :, y, x] / 0.1, dim=0)
                total -= (teacher[b, :, y, x] * log_p).sum()
    torch.testing.assert_close(pixel_distillation_loss(student, teacher, 0.1), total / 18)


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
