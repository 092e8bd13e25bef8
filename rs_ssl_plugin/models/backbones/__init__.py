from .swin_os16 import SwinTransformerOS16

__all__ = ['SwinTransformerOS16']
