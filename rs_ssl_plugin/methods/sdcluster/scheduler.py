"""SDCluster's learning-rate schedule: timm's cosine with a linear warm-up."""
import math

from mmengine.optim.scheduler.param_scheduler import INF
from mmpretrain.registry import PARAM_SCHEDULERS

from ...engine.progress_curve import ProgressCurveLR


def timm_warmup_cosine_factor(progress: float, warmup_ratio: float = 0.2, warmup_start_factor: float = 2e-4,
                              end_factor: float = 2e-4) -> float:
    """Multiplier of the base LR at progress ``t`` in [0, 1) for timm's ``CosineLRScheduler`` with a warm-up
    and ``warmup_prefix=False`` (SDCluster's schedule)::

        t <  warmup_ratio: s + (1 - s) * t / warmup_ratio                     (s = warmup_start_factor)
        t >= warmup_ratio: e + (1 - e) * (1 + cos(pi * t)) / 2                 (e = end_factor)

    The cosine runs on the absolute progress, so at the end of the warm-up the LR drops from the base to
    ``e + (1 - e) * (1 + cos(pi * warmup_ratio)) / 2`` (0.905 of the base for a 20 % warm-up).
    """
    if progress < warmup_ratio:
        return warmup_start_factor + (1 - warmup_start_factor) * progress / warmup_ratio
    return end_factor + 0.5 * (1 - end_factor) * (1 + math.cos(math.pi * progress))


@PARAM_SCHEDULERS.register_module()
class TimmWarmupCosineLR(ProgressCurveLR):
    """SDCluster's official learning-rate curve (timm cosine with linear warm-up).

    Each step sets ``lr = base * timm_warmup_cosine_factor((step - begin) / (end - begin))`` (see
    :func:`timm_warmup_cosine_factor`). Official: base 1.25e-3, warm-up from and decay to 2.5e-7 (factor 2e-4),
    20 of 100 epochs of warm-up, updated every iteration (``by_epoch=True, convert_to_iter_based=True``).

    Args:
        optimizer (Optimizer or OptimWrapper): The optimizer whose learning rate is scheduled; its initial
            learning rate is the base.
        warmup_ratio (float): Fraction of the run spent in the linear warm-up. Defaults to 0.2.
        warmup_start_factor (float): Factor of the base at the first step of the warm-up. Defaults to 2e-4.
        end_factor (float): Factor of the base the cosine decays to at the end. Defaults to 2e-4.
        begin (int): Step (epoch or iteration, see ``by_epoch``) at which the curve starts. Defaults to 0.
        end (int): Step at which the curve ends (progress 1); must be given, the default ``INF`` is rejected
            because the curve is defined on progress. Defaults to INF.
        last_step (int): Index of the last step, for resuming; -1 starts from ``begin``. Defaults to -1.
        by_epoch (bool): Whether ``begin`` and ``end`` count epochs (with ``convert_to_iter_based=True`` the
            curve is still evaluated every iteration) rather than iterations. Defaults to True.
        verbose (bool): Whether to print the value at each update. Defaults to False.
    """

    def __init__(self, optimizer, warmup_ratio: float = 0.2, warmup_start_factor: float = 2e-4,
                 end_factor: float = 2e-4, begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False):
        self.curve = dict(warmup_ratio=warmup_ratio, warmup_start_factor=warmup_start_factor, end_factor=end_factor)
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    def factor(self, progress: float) -> float:
        """:func:`timm_warmup_cosine_factor` at ``progress`` with this scheduler's curve parameters."""
        return timm_warmup_cosine_factor(progress, **self.curve)
