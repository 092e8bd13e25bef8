from .progress_curve import ProgressCurveLR
from .timm_warmup_cosine import TimmWarmupCosineLR, timm_warmup_cosine_factor
from .vissl_cosine_restart import VISSLCosineRestartLR, vissl_warmup_cosine_restart_factor

__all__ = ['ProgressCurveLR', 'TimmWarmupCosineLR', 'VISSLCosineRestartLR', 'timm_warmup_cosine_factor',
           'vissl_warmup_cosine_restart_factor']
