"""IDDC (IJCV 2024): unsupervised semantic segmentation by imbalance-aware discriminative clustering on frozen
DINO ViT features, scored with Hungarian matching (docs/iddc.md)."""
from .converter import convert_dino_vit, convert_iddc_release
from .data_preprocessor import MultiViewSegDataPreProcessor
from .datasets import COCO_STUFF_27_CLASSES, COCO_STUFF_FINE_TO_27, CocoStuff27Dataset, Potsdam3Dataset
from .head import IDDCHead
from .loss import iddc_loss, negative_loss, positive_loss, sample_negative_shifts, weibull_balance_loss
from .metric import HungarianIoUMetric, hungarian_match, matched_scores
from .preparation import convert_iic_potsdam, layout_cocostuff27
from .segmentor import IDDC
from .views import AnisotropicRandomResize, OverlappingCropPair

__all__ = ['AnisotropicRandomResize', 'COCO_STUFF_27_CLASSES', 'COCO_STUFF_FINE_TO_27', 'CocoStuff27Dataset',
           'HungarianIoUMetric', 'IDDC', 'IDDCHead', 'MultiViewSegDataPreProcessor', 'OverlappingCropPair',
           'Potsdam3Dataset', 'convert_dino_vit', 'convert_iddc_release', 'convert_iic_potsdam', 'hungarian_match',
           'iddc_loss', 'layout_cocostuff27', 'matched_scores', 'negative_loss', 'positive_loss',
           'sample_negative_shifts', 'weibull_balance_loss']
