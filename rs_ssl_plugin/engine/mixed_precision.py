"""Mixed-precision training on the device the model lives on: fp16 or bf16 autocast on CUDA, bf16 on the CPU.

mmengine's ``AmpOptimWrapper`` asserts a GPU, so a config that uses it cannot train (or be tested) on a
machine without one. :class:`MixedPrecisionOptimWrapper` takes the same arguments and behaves the same on
CUDA, and runs bfloat16 autocast on the CPU.
"""
import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch import nn

AUTOCAST_DTYPES = ('float16', 'bfloat16')
# CPU instruction sets that compute in bfloat16 natively (oneDNN's fast bfloat16 kernels need one of them)
NATIVE_BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


@lru_cache(maxsize=None)
def cpu_description(cpuinfo: str = '/proc/cpuinfo') -> dict:
    """``{'model': name, 'native_bfloat16': bool}`` of this machine's CPU, read from ``cpuinfo`` (Linux); an
    unreadable file gives ``{'model': 'unknown', 'native_bfloat16': False}``.

    Without AVX512-BF16 or AMX, bfloat16 autocast on the CPU is emulated: on an AVX2-only CPU a ResNet-18
    training step ran several times slower than in float32 (docs/benchmarks.md#training-on-the-cpu).
    """
    try:
        with open(cpuinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return dict(model='unknown', native_bfloat16=False)
    fields = {}
    for line in lines:
        key, _, value = line.partition(':')
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get('flags', '').split())
    return dict(model=fields.get('model name', 'unknown'),
                native_bfloat16=any(flag in flags for flag in NATIVE_BFLOAT16_CPU_FLAGS))


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors (autocast outputs) promoted to float32; float32 and float64 kept as they are."""
    return tensor.float() if tensor.dtype in (torch.float16, torch.bfloat16) else tensor


def autocast_dtype(device_type: str, dtype: Optional[Union[str, torch.dtype]] = None) -> torch.dtype:
    """The autocast dtype for ``device_type`` ('cuda' or 'cpu'): ``dtype``, or by default float16 on CUDA
    (what ``AmpOptimWrapper`` uses) and bfloat16 on the CPU (the only half type CPU autocast runs well)."""
    if device_type not in ('cuda', 'cpu'):
        raise ValueError(f"MixedPrecisionOptimWrapper runs on 'cuda' or 'cpu' parameters, got {device_type!r} "
                         "(use mmengine's AmpOptimWrapper on NPU/MLU/MUSA)")
    if dtype is None:
        return torch.float16 if device_type == 'cuda' else torch.bfloat16
    name = dtype if isinstance(dtype, str) else str(dtype).replace('torch.', '')
    if name not in AUTOCAST_DTYPES:
        raise ValueError(f'optim_wrapper.dtype must be one of {AUTOCAST_DTYPES} (or None), got {dtype!r}; '
                         'for float32 training use OptimWrapper (tools/train.py --no-amp)')
    if device_type == 'cpu' and name == 'float16':
        raise ValueError("float16 autocast needs a GPU; on the CPU use optim_wrapper.dtype='bfloat16' "
                         '(tools/train.py --amp-dtype bfloat16) or train in float32 (--no-amp)')
    if device_type == 'cuda' and name == 'bfloat16' and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU does not support bfloat16; use optim_wrapper.dtype='float16'")
    return getattr(torch, name)


def grad_scaler_kwargs(loss_scale: Union[str, float, dict]) -> dict:
    """``torch.amp.GradScaler`` arguments of an ``AmpOptimWrapper``-style ``loss_scale``: 'dynamic' (the
    defaults), a float (the initial and, kept by ``step``, static scale) or a dict of GradScaler arguments."""
    if loss_scale == 'dynamic':
        return {}
    if isinstance(loss_scale, float):
        return dict(init_scale=loss_scale)
    if isinstance(loss_scale, dict):
        return dict(loss_scale)
    raise TypeError(f"loss_scale must be 'dynamic', a float or a dict of GradScaler arguments, got {loss_scale!r}")


def parameter_device_type(optimizer: torch.optim.Optimizer) -> str:
    """Device type of the optimised parameters (the Runner moves the model before building the wrapper)."""
    for group in optimizer.param_groups:
        for param in group['params']:
            return param.device.type
    raise ValueError('MixedPrecisionOptimWrapper needs an optimizer with parameters')


@OPTIM_WRAPPERS.register_module()
class MixedPrecisionOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` that autocasts on the parameters' device, CUDA or CPU.

    - ``dtype=None``: float16 on CUDA, as ``AmpOptimWrapper`` (the setting the released AMP recipes use),
      bfloat16 on the CPU. ``'float16'`` or ``'bfloat16'`` choose; float16 on the CPU raises.
    - float16 scales the loss like ``AmpOptimWrapper`` (``loss_scale``: 'dynamic', a static float, or a
      dict of ``GradScaler`` arguments); gradients are unscaled before clipping.
    - bfloat16 has float32's exponent range and needs no loss scale: the scaler is disabled, so backward
      and step are the plain ones.

    Use it like ``AmpOptimWrapper``: ``optim_wrapper=dict(type='MixedPrecisionOptimWrapper',
    loss_scale='dynamic', optimizer=...)``; ``tools/train.py --amp`` switches a config to it.

    Args:
        loss_scale (str or float or dict): Loss scaling for float16: ``'dynamic'``, a static scale, or a dict
            of ``torch.amp.GradScaler`` arguments (e.g. ``dict(init_scale=2.**16)``); ignored for bfloat16.
            Defaults to 'dynamic'.
        dtype (str or torch.dtype, optional): Autocast dtype, ``'float16'`` or ``'bfloat16'``; ``None``
            picks float16 on CUDA and bfloat16 on the CPU. Defaults to None.
        **kwargs: Arguments of mmengine's ``OptimWrapper``: ``optimizer`` (the built optimizer or its
            config), ``accumulative_counts`` and ``clip_grad``.
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None, **kwargs):
        # AmpOptimWrapper.__init__ asserts a GPU: set up its attributes here for the parameters' device
        OptimWrapper.__init__(self, **kwargs)
        self.device_type = parameter_device_type(self.optimizer)
        self.cast_dtype = autocast_dtype(self.device_type, dtype)
        scaled = self.cast_dtype == torch.float16
        self.loss_scaler = torch.amp.GradScaler(self.device_type, enabled=scaled, **grad_scaler_kwargs(loss_scale))
        self._scale_update_param = loss_scale if scaled and isinstance(loss_scale, float) else None
        cpu = cpu_description()
        if self.device_type == 'cpu' and not cpu['native_bfloat16']:
            print_log(f'bfloat16 autocast on this CPU ({cpu["model"]}, without AVX512-BF16 or AMX) is emulated and '
                      'trains several times slower than float32 (docs/benchmarks.md#training-on-the-cpu); '
                      'train in float32 here (tools/train.py --no-amp)', logger='current', level=logging.WARNING)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` plus autocast on the parameters' device."""
        with OptimWrapper.optim_context(self, model), torch.autocast(self.device_type, dtype=self.cast_dtype):
            yield
