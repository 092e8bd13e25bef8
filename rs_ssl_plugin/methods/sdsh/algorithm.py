"""The SDSH algorithm: DINOv2/iBOT self-distillation on continuous hash codes with an EMA teacher."""
import copy
from typing import Dict, List, Optional

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ...utils.dist import all_reduce_sum
from . import loss as losses

DEFAULT_LOSS_WEIGHTS = dict(dino=1.0, ibot=1.0, koleo=0.0, hash_reg=0.01)


@MODELS.register_module()
class SDSH(BaseSelfSupervisor):
    """SDSH: Self-Distilled Self-Supervised Hashing for remote-sensing image retrieval.

    Implementation of `Self-Distilled Self-Supervised Hashing for Remote Sensing Image Retrieval
    <https://doi.org/10.1109/LGRS.2025.3646078>`_ (Qiao et al., IEEE GRSL 2026).

    A DINOv2 teacher-student self-distillation in which the DINO head reads the continuous hash vector
    ``u`` of :class:`SDSHViT` (attention-weighted pooling -> hash layer) instead of the class token.
    ``inputs`` are the 2 global crops followed by the local crops (:class:`SDSHMultiCrop`); iBOT block
    masks for the global crops come in ``data_samples[i].mask`` (``(2, h, w)``, see ``sdsh_collate``).

    Loss (one backward)::

        L = w_dino (L_dino_local + L_dino_global) + w_ibot L_ibot + w_koleo L_koleo + w_reg L_hash_reg

    - teacher (EMA, no drop path) sees the unmasked global crops; its two crops' outputs are swapped;
      teacher probabilities are centred (EMA centre, momentum 0.9) and sharpened with ``teacher_temp``;
    - the student sees masked global crops and the local crops (student temperature 0.1);
    - DINO terms are divided by ``n_g (n_g - 1) + n_g n_l`` (18), the global term is multiplied by 2;
    - iBOT: masked patches of the 256-d projection through a separate head, per-crop mean over masked
      patches, averaged over the ``2B`` global crops;
    - KoLeo on the student global hash vectors of each crop chunk; ``L_hash_reg = mean | |u| - 1 |``.

    ``teacher_temp`` and the EMA momentum are driven by :class:`SDSHScheduleHook`; the teacher is updated by
    :meth:`update_teacher`. ``predict`` returns the teacher's global-path ``u`` (``hash_feature``) for
    retrieval (:class:`RetrievalMetric` takes ``sign``).

    Args:
        backbone (dict): :class:`SDSHViT` config (student; the teacher is the same with
            ``drop_path_rate=0``).
        dino_head (dict): :class:`SDSHDINOHead` config of the DINO head; its ``in_channels`` is set to the
            backbone's ``hash_bits``.
        ibot_head (dict): :class:`SDSHDINOHead` config of the separate iBOT head; its ``in_channels`` is set
            to the backbone's ``ibot_channels``.
        loss_weights (dict, optional): Any of ``dino``, ``ibot``, ``koleo``, ``hash_reg`` (others are
            refused); missing ones keep the released default config's ``1.0, 1.0, 0.0, 0.01``. The official
            sweeps fix ``ibot 0.1, koleo 0.01, hash_reg 0.01``. Defaults to None.
        student_temp (float): Temperature of the student's softmax in the DINO and iBOT terms.
            Defaults to 0.1.
        center_momentum (float): EMA momentum of the DINO and iBOT teacher centres. Defaults to 0.9.
        teacher_temp (float): Initial teacher temperature (:class:`SDSHScheduleHook` overwrites it every
            iteration). Defaults to 0.04.
        data_preprocessor (dict, optional): Config of the data preprocessor; ``None`` uses mmpretrain's
            ``SelfSupDataPreprocessor``. Defaults to None.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule`` (the backbone's
            pretrained weights come from ``backbone.init_cfg``). Defaults to None.
    """

    # what SSLMonitorHook watches for collapse: the student's continuous hash codes
    embedding_module = 'backbone.hash_layer'

    def __init__(self, backbone: dict, dino_head: dict, ibot_head: dict, loss_weights: Optional[dict] = None,
                 student_temp: float = 0.1, center_momentum: float = 0.9, teacher_temp: float = 0.04,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(backbone=backbone, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.loss_weights = dict(DEFAULT_LOSS_WEIGHTS)
        unknown = set(loss_weights or {}) - set(DEFAULT_LOSS_WEIGHTS)
        if unknown:
            raise KeyError(f'unknown SDSH loss weights {sorted(unknown)}; known: {sorted(DEFAULT_LOSS_WEIGHTS)}')
        self.loss_weights.update(loss_weights or {})
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.teacher_temp = teacher_temp

        dino_head = dict(dino_head, in_channels=self.backbone.hash_bits)
        ibot_head = dict(ibot_head, in_channels=self.backbone.ibot_projection.out_features)
        self.dino_head = MODELS.build(dino_head)
        self.ibot_head = MODELS.build(ibot_head)
        self.teacher = nn.ModuleDict(dict(backbone=MODELS.build(dict(backbone, drop_path_rate=0.)),
                                          dino_head=MODELS.build(copy.deepcopy(dino_head)),
                                          ibot_head=MODELS.build(copy.deepcopy(ibot_head))))
        self.teacher.requires_grad_(False)
        self.register_buffer('dino_center', torch.zeros(1, self.dino_head.last_layer.out_features))
        self.register_buffer('ibot_center', torch.zeros(1, self.ibot_head.last_layer.out_features))

    def student_modules(self) -> Dict[str, nn.Module]:
        """The trained sub-modules by name (gradient clipping and EMA act on each separately)."""
        return dict(backbone=self.backbone, dino_head=self.dino_head, ibot_head=self.ibot_head)

    def init_weights(self):
        """Initialise the student, then copy it into the teacher (:meth:`copy_student_to_teacher`)."""
        super().init_weights()
        self.copy_student_to_teacher()

    @torch.no_grad()
    def copy_student_to_teacher(self):
        """Start the teacher from the student (pretrained backbone and freshly initialised new layers)."""
        for name, module in self.student_modules().items():
            self.teacher[name].load_state_dict(module.state_dict())

    @torch.no_grad()
    def update_teacher(self, momentum: float):
        """``teacher <- m teacher + (1 - m) student`` for every parameter (DINOv2 EMA; buffers are not averaged)."""
        for name, module in self.student_modules().items():
            teacher_params = list(self.teacher[name].parameters())
            student_params = [p.detach() for p in module.parameters()]
            torch._foreach_mul_(teacher_params, momentum)
            torch._foreach_add_(teacher_params, student_params, alpha=1 - momentum)

    def train(self, mode: bool = True):
        """Switch the student's mode; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    @staticmethod
    def _global_crop_masks(data_samples: List[DataSample], batch_size: int) -> Optional[torch.Tensor]:
        """``(2B, N)`` bool masks in crop-major order (all first crops, then all second crops), or None."""
        if not data_samples or 'mask' not in data_samples[0]:
            return None
        masks = torch.stack([sample.mask for sample in data_samples])  # (B, 2, h, w)
        if masks.size(0) != batch_size or masks.size(1) != 2:
            raise ValueError(f'expected iBOT masks of shape (B={batch_size}, 2, h, w), got {tuple(masks.shape)}')
        return masks.transpose(0, 1).flatten(2).flatten(0, 1).bool()

    @torch.no_grad()
    def _update_center(self, center: torch.Tensor, teacher_logits: torch.Tensor):
        """EMA of the mean teacher logits over the rows of all ranks (after it was used).

        Sums and row counts are all-reduced on every rank, also one without rows (no masked patch in its
        batch), so the ranks never disagree on the collective calls; with no row anywhere the centre stays.
        """
        rows = teacher_logits.new_tensor([teacher_logits.shape[0]], dtype=torch.float32)
        totals = torch.cat([teacher_logits.float().sum(dim=0), rows])
        all_reduce_sum(totals)
        batch_center = (totals[:-1] / totals[-1].clamp(min=1)).unsqueeze(0)
        center.copy_(torch.where(totals[-1] > 0, losses.ema_center(center, batch_center, self.center_momentum),
                                 center))

    @torch.no_grad()
    def _teacher_targets(self, global_crops: torch.Tensor, masks: Optional[torch.Tensor]):
        out = self.teacher.backbone.forward_hash(global_crops)
        first, second = out['hash'].chunk(2)
        dino_logits = self.teacher.dino_head(torch.cat([second, first]))
        dino_probs = losses.centered_teacher_softmax(dino_logits, self.dino_center, self.teacher_temp)
        self._update_center(self.dino_center, dino_logits)
        ibot_probs = None
        # no test of masks.any(): every rank must run the same collectives and use the iBOT head (DDP)
        if self.loss_weights['ibot'] and masks is not None:
            ibot_logits = self.teacher.ibot_head(out['ibot'][masks])
            ibot_probs = losses.centered_teacher_softmax(ibot_logits, self.ibot_center, self.teacher_temp)
            self._update_center(self.ibot_center, ibot_logits)
        return dino_probs, ibot_probs

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """The weighted ``loss_dino_local``, ``loss_dino_global``, ``loss_hash_reg`` (with masks ``loss_ibot``, with
        a KoLeo weight ``loss_koleo``) and the logged ``teacher_temp``."""
        if not isinstance(inputs, list) or len(inputs) < 3:
            raise ValueError('SDSH expects 2 global crops followed by local crops (SDSHMultiCrop)')
        batch_size = inputs[0].size(0)
        num_local = len(inputs) - 2
        global_crops = torch.cat(inputs[:2])
        masks = self._global_crop_masks(data_samples, batch_size)
        teacher_dino, teacher_ibot = self._teacher_targets(global_crops, masks)

        student_global = self.backbone.forward_hash(global_crops, masks)
        student_local = self.backbone.forward_hash(torch.cat(inputs[2:]))
        u_global = student_global['hash']
        dino_logits = self.dino_head(torch.cat([student_local['hash'], u_global]))
        local_logits, global_logits = dino_logits[:num_local * batch_size], dino_logits[num_local * batch_size:]

        num_terms = 2 * 1 + 2 * num_local
        w = self.loss_weights
        out = dict(
            loss_dino_local=w['dino'] * losses.dino_local_loss(
                teacher_dino.chunk(2), local_logits.chunk(num_local), num_terms, self.student_temp),
            loss_dino_global=w['dino'] * losses.dino_global_loss(
                teacher_dino, global_logits, num_terms, self.student_temp),
            loss_hash_reg=w['hash_reg'] * losses.hash_quantization_loss(u_global))
        if teacher_ibot is not None:
            student_ibot = self.ibot_head(student_global['ibot'][masks])
            out['loss_ibot'] = w['ibot'] * losses.ibot_masked_loss(teacher_ibot, student_ibot, masks,
                                                                   self.student_temp)
        if w['koleo']:
            out['loss_koleo'] = w['koleo'] * sum(losses.koleo_loss(chunk) for chunk in u_global.chunk(2))
        out['teacher_temp'] = torch.tensor(self.teacher_temp)
        return out

    def predict(self, inputs: List[torch.Tensor], data_samples: Optional[List[DataSample]] = None,
                **kwargs) -> List[DataSample]:
        """Teacher global-path continuous codes ``u`` as ``hash_feature`` of each data sample."""
        images = inputs[0] if isinstance(inputs, list) else inputs
        codes = self.teacher.backbone(images)[0]
        if data_samples is None:
            data_samples = [DataSample() for _ in range(codes.size(0))]
        for sample, code in zip(data_samples, codes):
            sample.set_field(code, 'hash_feature')
        return data_samples

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """mmpretrain's ``forward`` with a ``'predict'`` mode (:meth:`predict`) for retrieval evaluation."""
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return super().forward(inputs, data_samples, mode)
