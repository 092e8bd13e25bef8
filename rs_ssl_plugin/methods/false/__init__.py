"""FALSE (GRSL 2022): SimCLR with false-negative self-determination and confidence calibration (docs/false.md)."""
from .algorithm import FALSE
from .converter import convert_vissl_resnet
from .head import FALSEHead
from .larc import LARC
from .loss import false_loss, positive_index, select_false_negatives
from .neck import LinearProjectionNeck
from .scheduler import VISSLCosineRestartLR, vissl_warmup_cosine_restart_factor

__all__ = ['FALSE', 'FALSEHead', 'LARC', 'LinearProjectionNeck', 'VISSLCosineRestartLR', 'convert_vissl_resnet',
           'false_loss', 'positive_index', 'select_false_negatives', 'vissl_warmup_cosine_restart_factor']
