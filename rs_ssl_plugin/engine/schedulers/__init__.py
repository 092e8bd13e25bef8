from .vissl_cosine_restart import VISSLCosineRestartLR, vissl_warmup_cosine_restart_factor

__all__ = ['VISSLCosineRestartLR', 'vissl_warmup_cosine_restart_factor']
