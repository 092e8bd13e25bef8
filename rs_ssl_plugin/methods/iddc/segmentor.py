"""The IDDC segmentor: frozen DINO ViT, trained clustering head, whole or sliding-window inference."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, SampleList
from torch import nn

from ...utils.windows import slide_windows
from .loss import iddc_loss, sample_negative_shifts


@MODELS.register_module()
class IDDC(BaseSegmentor):
    """IDDC: imbalance-aware dense discriminative clustering on frozen DINO features.

    Implementation of `Imbalance-Aware Discriminative Clustering for Unsupervised Semantic Segmentation
    <https://link.springer.com/article/10.1007/s11263-024-02083-x>`_ (Liu, Zhang and Tang, IJCV 2024).

    The backbone (a DINO ViT giving its final-norm patch tokens as a feature map) is frozen: no
    gradients, always in eval mode, run under ``no_grad``. Only the head (and the optional linear probe)
    train. Training takes the two overlapping crops of each image stacked along channels
    (``(B, 2 * 3, H, W)``, see :class:`OverlappingCropPair` and :class:`MultiViewSegDataPreProcessor`);
    the loss is :func:`~rs_ssl_plugin.methods.iddc.loss.iddc_loss`. Prediction returns cluster ids in
    ``pred_sem_seg`` (and cluster probabilities in ``seg_logits``), to be evaluated with Hungarian
    matching (:class:`~rs_ssl_plugin.methods.iddc.metric.HungarianIoUMetric`).

    Args:
        backbone (dict): Config of the frozen backbone, e.g.
            ``dict(type='mmpretrain.VisionTransformer', arch='deit-small', patch_size=16,
            out_type='featmap', final_norm=True, _scope_='mmpretrain')``; its last output is used. Its
            weights come from its ``init_cfg`` (``dict(type='Pretrained', checkpoint=..., prefix=...)``).
        head (dict): Config of the clustering head (:class:`~rs_ssl_plugin.methods.iddc.head.IDDCHead`).
        loss (dict, optional): Keyword arguments of :func:`iddc_loss` (``negative_weight`` 1.4,
            ``balance_weight`` 0.4, ``positive_gate`` 0.2, ``negative_gate`` 0.12) plus
            ``num_negative_shifts`` (3); ``None`` takes all defaults. Defaults to None.
        probe_classes (int, optional): Number of labelled classes of an optional linear probe (1x1 conv)
            trained with cross-entropy on the detached head features of the first crop against its labels.
            It is a diagnostic only: its gradient never reaches the head. ``None`` for no probe.
            Defaults to None.
        ignore_index (int): Label value the probe's cross-entropy and accuracy leave out. Defaults to 255.
        data_preprocessor (dict, optional): Config of the data preprocessor, usually
            :class:`MultiViewSegDataPreProcessor` (normalises the stacked training crops one by one).
            Defaults to None.
        test_cfg (dict, optional): ``mode``: ``'whole'`` (one pass over the input, the default) or
            ``'slide'`` (official protocol: windows of ``crop_size`` every ``stride``, the image first
            enlarged so that its short side is at least the crop, window probabilities averaged); ``flip``
            (False): average each pass's logits with those of the flipped input; ``output``:
            ``'clusters'`` (the default) or ``'probe'`` (the probe's class predictions, for mmseg's
            ordinary ``IoUMetric``). Defaults to None.
        train_cfg (dict, optional): Accepted for mmseg's ``init_model``, which passes it as ``None``; must
            stay empty. Defaults to None.
        pretrained (str, optional): Accepted for mmseg's ``init_model``, which passes it as ``None``; must
            stay empty (use ``backbone.init_cfg``). Defaults to None.
        init_cfg (dict, optional): Initialisation config of mmengine's ``BaseModule``. Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 head: ConfigType,
                 loss: Optional[dict] = None,
                 probe_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 data_preprocessor: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if train_cfg or pretrained:
            raise ValueError('IDDC takes no train_cfg or pretrained; load the backbone with backbone.init_cfg='
                             "dict(type='Pretrained', checkpoint=..., prefix='backbone.')")
        self.backbone = MODELS.build(backbone)
        self.backbone.requires_grad_(False)
        self.head = MODELS.build(head)
        loss = dict(loss or {})
        self.num_negative_shifts = loss.pop('num_negative_shifts', 3)
        self.loss_cfg = loss
        self.probe = nn.Conv2d(self.head.channels, probe_classes, 1) if probe_classes else None
        self.ignore_index = ignore_index
        self.test_cfg = {**dict(mode='whole', flip=False, output='clusters'), **(test_cfg or {})}
        if self.test_cfg['mode'] not in ('whole', 'slide'):
            raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got {self.test_cfg['mode']!r}")
        if self.test_cfg['output'] not in ('clusters', 'probe'):
            raise ValueError(f"test_cfg.output must be 'clusters' or 'probe', got {self.test_cfg['output']!r}")
        if self.test_cfg['output'] == 'probe' and self.probe is None:
            raise ValueError("test_cfg.output='probe' needs probe_classes")
        self.align_corners = False  # used by BaseSegmentor.postprocess_result

    def train(self, mode: bool = True):
        """Switch the head's mode; the frozen backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Frozen backbone features ``(B, C, h, w)`` (the backbone's last output)."""
        with torch.no_grad():
            feats = self.backbone(inputs)[-1]
        if feats.dim() != 4:
            raise ValueError(f'IDDC needs a (B, C, h, w) feature map from the backbone, got {tuple(feats.shape)} '
                             "(set out_type='featmap')")
        return feats

    def _logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Cluster (or probe) logits at feature resolution."""
        inter, logits = self.head(self.extract_feat(inputs))
        return self.probe(inter) if self.test_cfg['output'] == 'probe' else logits

    def _tta_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        logits = self._logits(inputs)
        if self.test_cfg['flip']:
            logits = (logits + self._logits(inputs.flip(-1)).flip(-1)) / 2
        return logits

    def _probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        """Softmax of the (flip-averaged) logits upsampled bilinearly to the input size.

        A ViT input that is not a multiple of the patch size is zero-padded at the bottom and right by
        mmcv's ``PatchEmbed``; the logits are upsampled to the padded extent and cut to the input.
        """
        logits = self._tta_logits(inputs)
        stride = self.backbone.patch_embed.projection.stride
        padded = (logits.size(-2) * stride[0], logits.size(-1) * stride[1])
        logits = F.interpolate(logits, size=padded, mode='bilinear', align_corners=False)
        return logits[..., :inputs.size(-2), :inputs.size(-1)].softmax(dim=1)

    def slide_inference(self, inputs: torch.Tensor) -> torch.Tensor:
        """Window probabilities averaged over overlapping windows, at the (possibly enlarged) input size."""
        crop_h, crop_w = self.test_cfg['crop_size']
        stride_h, stride_w = self.test_cfg['stride']
        height, width = inputs.shape[-2:]
        enlarge = max(crop_h / height, crop_w / width)
        if enlarge > 1:
            size = (max(round(height * enlarge), crop_h), max(round(width * enlarge), crop_w))
            inputs = F.interpolate(inputs, size=size, mode='bilinear', align_corners=False)
            height, width = size
        # mmseg's window grid (the image is at least one crop large here, so every window is a full crop)
        windows = slide_windows(height, width, (crop_h, crop_w), (stride_h, stride_w))
        # all windows of the batch in one pass: (windows * B, 3, crop_h, crop_w)
        window_probs = self._probabilities(torch.cat([inputs[..., y1:y2, x1:x2] for y1, y2, x1, x2 in windows]))
        probs = inputs.new_zeros((inputs.size(0), window_probs.size(1), height, width))
        counts = inputs.new_zeros((1, 1, height, width))
        for (y1, y2, x1, x2), window in zip(windows, window_probs.split(inputs.size(0))):
            probs[..., y1:y2, x1:x2] += window
            counts[..., y1:y2, x1:x2] += 1
        return probs / counts

    def encode_decode(self, inputs: torch.Tensor, batch_img_metas: List[dict]) -> torch.Tensor:
        """Class probabilities of the inputs per ``test_cfg`` (whole or sliding window)."""
        if self.test_cfg['mode'] == 'slide':
            return self.slide_inference(inputs)
        return self._probabilities(inputs)

    def predict(self, inputs: torch.Tensor, data_samples: Optional[SampleList] = None) -> SampleList:
        """``pred_sem_seg``: cluster ids (or probe classes) at each sample's original size."""
        metas = [s.metainfo for s in data_samples] if data_samples else [{}] * inputs.size(0)
        return self.postprocess_result(self.encode_decode(inputs, metas), data_samples)

    def _forward(self, inputs: torch.Tensor, data_samples: Optional[SampleList] = None) -> torch.Tensor:
        """Cluster logits at feature resolution."""
        return self.head(self.extract_feat(inputs))[1]

    @staticmethod
    def split_views(inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The two crops of the channel-stacked training input ``(B, 2 * c, H, W)``."""
        if inputs.size(1) % 2:
            raise ValueError(f'IDDC training expects two views stacked along channels (see OverlappingCropPair), '
                             f'got {inputs.size(1)} channels')
        view0, view1 = inputs.chunk(2, dim=1)
        return view0, view1

    def loss(self, inputs: torch.Tensor, data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """``loss_pos``, ``loss_neg``, ``loss_bal`` and ``usage_neg_entropy`` (plus the probe's loss and accuracy)."""
        view0, view1 = self.split_views(inputs)
        batch_size = view0.size(0)
        # the frozen backbone and the norm-free head treat each image alone: one pass for both views
        feats = self.extract_feat(torch.cat([view0, view1]))
        inter, logits = self.head(feats)
        losses = iddc_loss(feats[:batch_size], feats[batch_size:], logits[:batch_size], logits[batch_size:],
                           sample_negative_shifts(batch_size, self.num_negative_shifts), **self.loss_cfg)
        if self.probe is not None:
            losses.update(self.probe_loss(inter[:batch_size].detach(), data_samples))
        return losses

    def probe_loss(self, inter: torch.Tensor, data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """Cross-entropy of the linear probe, its logits upsampled bilinearly (``align_corners=True``, as in
        the official training loop) to the label size."""
        if not all('gt_sem_seg' in s for s in data_samples):
            raise ValueError('the linear probe needs labels (gt_sem_seg) for every training image')
        labels = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1).long()
        logits = F.interpolate(self.probe(inter), size=labels.shape[-2:], mode='bilinear', align_corners=True)
        loss = F.cross_entropy(logits, labels, ignore_index=self.ignore_index)
        valid = labels != self.ignore_index
        accuracy = ((logits.argmax(1) == labels) & valid).sum() / valid.sum().clamp(min=1)
        return dict(loss_probe=loss, probe_acc=accuracy.detach())
