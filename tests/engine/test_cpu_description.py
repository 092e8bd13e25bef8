"""cpu_description reads the CPU model and whether it computes bfloat16 natively; the CPU bfloat16 wrapper warns
where it is emulated."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper

import rs_ssl_plugin.engine.mixed_precision as mixed_precision
from rs_ssl_plugin.engine.mixed_precision import cpu_description

CPUINFO = 'processor\t: {i}\nmodel name\t: {model}\nflags\t\t: fpu sse2 avx2 fma {extra}\n\n'


def cpuinfo(tmp_path, model, extra):
    path = tmp_path / 'cpuinfo'
    path.write_text(''.join(CPUINFO.format(i=i, model=model, extra=extra) for i in range(2)))
    return str(path)


@pytest.mark.parametrize('extra, native', [('', False), ('avx512f', False), ('avx512f avx512_bf16', True),
                                           ('amx_tile amx_bf16', True)])
def test_native_bfloat16_needs_avx512_bf16_or_amx(tmp_path, extra, native):
    assert cpu_description(cpuinfo(tmp_path, 'Some CPU', extra)) == dict(model='Some CPU', native_bfloat16=native)


def test_unreadable_cpuinfo(tmp_path):
    assert cpu_description(str(tmp_path / 'missing')) == dict(model='unknown', native_bfloat16=False)


@pytest.mark.parametrize('native', [False, True])
def test_cpu_wrapper_warns_only_where_bfloat16_is_emulated(monkeypatch, native):
    monkeypatch.setattr(mixed_precision, 'cpu_description', lambda: dict(model='Test CPU', native_bfloat16=native))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        build_optim_wrapper(torch.nn.Linear(2, 2), dict(type='MixedPrecisionOptimWrapper', dtype='bfloat16',
                                                         optimizer=dict(type='SGD', lr=0.1)))
    finally:
        logger.removeHandler(handler)
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING and 'emulated' in r.getMessage()]
    assert bool(warnings) != native
    if warnings:
        assert 'Test CPU' in warnings[0] and '--no-amp' in warnings[0]
