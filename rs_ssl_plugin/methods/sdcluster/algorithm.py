"""The SDCluster algorithm: student, EMA teacher, pixel self-distillation and filtered slot contrast."""
from itertools import groupby
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from .loss import (
    align_to_overlap,
    filtered_slot_contrastive_loss,
    pixel_distillation_loss,
    prototype_presence,
    sinkhorn_knopp,
)


@MODELS.register_module()
class SDCluster(BaseSelfSupervisor):
    """SDCluster: clustering-based dense self-distillation.

    Implementation of `SDCluster: A clustering based self-supervised pre-training method for semantic
    segmentation of remote sensing images <https://doi.org/10.1016/j.isprsjprs.2025.02.021>`_ (ISPRS J. 2025).

    A student (backbone, ``neck`` projector, ``prototypes``, ``predictor``) and an EMA teacher (backbone,
    projector, prototypes; momentum on a cosine from ``base_momentum`` to 1). For every pair of views (i, j)
    with i global, i < j:

    - pixel self-distillation: the student's prototype scores of view i, aligned to the overlap with view j,
      predict the teacher's Sinkhorn assignments of view j aligned the same way, and vice versa;
    - filtered slot contrast: the student's predicted slots of view i against the teacher's slots of view j
      of all images (only prototypes present in both), and vice versa.

    ``loss_sd`` and ``loss_ctr`` are weighted by ``distill_weight`` and ``1 - distill_weight`` and averaged
    over pairs, so their sum is the official loss. The inputs are the views of
    :class:`OverlappingMultiCrop` (global crops first); the data samples carry ``gc_bboxes`` (G, V, 4),
    ``otc_bboxes`` (V, G, 4) and ``flip_flags`` (V,).

    Args:
        backbone (dict): Config of the student backbone (official: ``SwinTransformerOS16``); the teacher
            is a copy.
        neck (dict): Config of the dense projector (:class:`GELUMLP`, ``dense=True``); the teacher's is a
            copy.
        prototypes (dict): Config of the cluster prototypes (:class:`ClusterPrototypes`); the teacher's are
            a copy.
        predictor (dict): Config of the student-only slot predictor (:class:`GELUMLP`, ``dense=False``).
        base_momentum (float): Teacher EMA momentum at the first iteration, reaching 1 at the last on a
            cosine. Defaults to 0.99.
        student_temperature (float): tau_s, the temperature of the student's prototype scores in the
            pixel self-distillation. Defaults to 0.1.
        teacher_temperature (float): tau_t, the temperature of the teacher's scores in the Sinkhorn-Knopp
            assignment. Defaults to 0.07.
        contrast_temperature (float): tau_c, the temperature of the filtered slot contrast. Defaults to 0.2.
        sinkhorn_iterations (int): Sinkhorn-Knopp normalisation iterations. Defaults to 3.
        distill_weight (float): w, the weight of ``loss_sd``; ``loss_ctr`` gets ``1 - w``. Defaults to 0.5.
        aligned_size (int): Side of the RoIAlign output of each overlap (14 x 14, the official fixed size).
            Defaults to 14.
        teacher_drop_path (bool): Whether to run the teacher in train mode so that its stochastic depth is
            active (the official behaviour) rather than in eval mode. Defaults to True.
        data_preprocessor (dict, optional): Config of the data preprocessor; ``None`` uses mmpretrain's
            ``SelfSupDataPreprocessor``. Defaults to None.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``. Defaults to None.
    """

    # what SSLMonitorHook watches for collapse: the student's dense projections
    embedding_module = 'neck'

    def __init__(self, backbone: dict, neck: dict, prototypes: dict, predictor: dict, base_momentum: float = 0.99,
                 student_temperature: float = 0.1, teacher_temperature: float = 0.07,
                 contrast_temperature: float = 0.2, sinkhorn_iterations: int = 3, distill_weight: float = 0.5,
                 aligned_size: int = 14, teacher_drop_path: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, neck=neck, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.prototypes = MODELS.build(prototypes)
        self.predictor = MODELS.build(predictor)
        # CosineEMA's momentum is the weight of the student: 1 - 0.99 at the start, 0 at the end
        self.teacher = CosineEMA(self._student_modules(), momentum=1 - base_momentum, end_momentum=0.)
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.contrast_temperature = contrast_temperature
        self.sinkhorn_iterations = sinkhorn_iterations
        self.distill_weight = distill_weight
        self.aligned_size = (aligned_size, aligned_size)
        self.teacher_drop_path = teacher_drop_path

    def _student_modules(self) -> nn.ModuleDict:
        return nn.ModuleDict(dict(backbone=self.backbone, neck=self.neck, prototypes=self.prototypes))

    def init_weights(self):
        """Initialise the student, then copy it into the EMA teacher."""
        super().init_weights()
        # the teacher starts as an exact copy of the initialised student
        self.teacher.module.load_state_dict(self._student_modules().state_dict())

    def extract_feat(self, inputs: torch.Tensor) -> tuple:
        """The student backbone's feature maps of ``inputs``."""
        return self.backbone(inputs)

    @staticmethod
    def _dense_embeddings(modules, views: List[torch.Tensor]) -> List[torch.Tensor]:
        """Projected last-stage maps of every view; views of the same size share one backbone pass."""
        embeddings = []
        for _, same_size in groupby(views, key=lambda view: view.shape[-2:]):
            same_size = list(same_size)
            features = modules['backbone'](torch.cat(same_size))[-1]
            embeddings += modules['neck'](features).chunk(len(same_size))
        return embeddings

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """``loss_sd`` (pixel self-distillation) and ``loss_ctr`` (slot contrast), weighted and averaged over view
        pairs; updates the EMA teacher first."""
        gc_bboxes = torch.stack([torch.as_tensor(s.gc_bboxes) for s in data_samples]).to(inputs[0].device)
        otc_bboxes = torch.stack([torch.as_tensor(s.otc_bboxes) for s in data_samples]).to(inputs[0].device)
        flipped = torch.stack([torch.as_tensor(s.flip_flags) for s in data_samples]).to(inputs[0].device).bool()
        num_global, num_views = gc_bboxes.shape[1:3]
        if len(inputs) != num_views:
            raise ValueError(f'SDCluster got {len(inputs)} views but overlap boxes for {num_views}')

        student = self._student_modules()
        embeddings = self._dense_embeddings(student, inputs)
        scores = [self.prototypes.scores(z) for z in embeddings]
        slots = [self.prototypes.pool(z, s) for z, s in zip(embeddings, scores)]

        with torch.no_grad():
            self.teacher.update_parameters(student)
            self.teacher.train(self.training and self.teacher_drop_path)
            teacher = self.teacher.module
            teacher_embeddings = self._dense_embeddings(teacher, inputs)
            teacher_scores = [teacher['prototypes'].scores(y) for y in teacher_embeddings]
            teacher_slots = [F.normalize(teacher['prototypes'].pool(y, s).float(), dim=-1)
                             for y, s in zip(teacher_embeddings, teacher_scores)]
            assignments = [sinkhorn_knopp(s, self.teacher_temperature, self.sinkhorn_iterations)
                           for s in teacher_scores]
            teacher_present = [prototype_presence(q) for q in assignments]
        student_present = [prototype_presence(s.detach()) for s in scores]

        loss_sd = loss_ctr = 0.
        pairs = [(i, j) for i in range(num_global) for j in range(i + 1, num_views)]
        for i, j in pairs:
            # student scores and teacher assignments of a view share its boxes: align them in one call
            num_prototypes = scores[i].shape[1]
            aligned_i = align_to_overlap(torch.cat([scores[i].float(), assignments[i]], 1), gc_bboxes[:, i, j],
                                         flipped[:, i], self.aligned_size)
            aligned_j = align_to_overlap(torch.cat([scores[j].float(), assignments[j]], 1), otc_bboxes[:, j, i],
                                         flipped[:, j], self.aligned_size)
            student_i, teacher_i = aligned_i.split(num_prototypes, dim=1)
            student_j, teacher_j = aligned_j.split(num_prototypes, dim=1)
            loss_sd = loss_sd + pixel_distillation_loss(student_i, teacher_j.detach(), self.student_temperature) \
                + pixel_distillation_loss(student_j, teacher_i.detach(), self.student_temperature)
            loss_ctr = loss_ctr + self._slot_contrast(slots[i], student_present[i], teacher_slots[j],
                                                      teacher_present[j]) \
                + self._slot_contrast(slots[j], student_present[j], teacher_slots[i], teacher_present[i])
        return dict(loss_sd=self.distill_weight * loss_sd / len(pairs),
                    loss_ctr=(1 - self.distill_weight) * loss_ctr / len(pairs))

    def _slot_contrast(self, slots: torch.Tensor, present: torch.Tensor, teacher_slots: torch.Tensor,
                       teacher_present: torch.Tensor) -> torch.Tensor:
        """Slot contrast of the student's slots present in both views against the teacher's present slots."""
        query_index = (present & teacher_present).flatten().nonzero().squeeze(1)
        queries = F.normalize(self.predictor(slots.flatten(0, 1)[query_index]).float(), dim=-1)
        return filtered_slot_contrastive_loss(queries, query_index, teacher_slots, teacher_present,
                                              self.contrast_temperature)
