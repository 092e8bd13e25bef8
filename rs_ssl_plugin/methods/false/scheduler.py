"""FALSE's learning-rate schedule: VISSL's linear warm-up and adaptive full-wave cosine restarts."""
import bisect
import math

from mmengine.optim.scheduler.param_scheduler import INF
from mmpretrain.registry import PARAM_SCHEDULERS

from ...engine.progress_curve import ProgressCurveLR


def vissl_warmup_cosine_restart_factor(progress: float, warmup_ratio: float = 0.1,
                                       warmup_start_factor: float = 0.125, end_factor: float = 0.001,
                                       restart_interval: float = 0.334) -> float:
    """Multiplier of the peak value at training progress ``t`` in [0, 1) for FALSE's VISSL schedule.

    VISSL composite: a linear warm-up from ``warmup_start_factor`` to 1 over the first ``warmup_ratio``,
    then ``cosine_warm_restart`` with ``wave_type=full`` and ``is_adaptive=True`` on the rescaled progress
    ``w = (t - warmup_ratio) / (1 - warmup_ratio)``::

        f(w) = e + (m_k - e) * (1 + cos(pi * w / L)) / 2,      e = end_factor, L = restart_interval

    The cosine argument is not wrapped, so the wave falls, rises and falls again. Restarts happen at
    ``s_k`` in ``{0} U {L, 3L, 5L, ...} (< 1)``, and the adaptive peak after restart ``k`` follows a plain
    cosine from 1 to ``e``: ``m_k = e + (1 - e) * (1 + cos(pi * (L + s_k))) / 2``. With FALSE's values
    (0.6 -> 4.8 -> 0.0048, L=0.334) the peaks are 3.597 and 1.195 and the learning rate drops from 4.8 to
    3.597 at the end of the warm-up.
    """
    if progress < warmup_ratio:
        return warmup_start_factor + (1 - warmup_start_factor) * progress / warmup_ratio
    wave = (progress - warmup_ratio) / (1 - warmup_ratio)
    restarts = [0.0] + [restart_interval * k for k in range(1, int(1 / restart_interval) + 1, 2)
                        if restart_interval * k < 1.0]
    restart = restarts[max(bisect.bisect(restarts, wave) - 1, 0)]
    peak = end_factor + 0.5 * (1 - end_factor) * (1 + math.cos(math.pi * (restart_interval + restart)))
    return end_factor + 0.5 * (peak - end_factor) * (1 + math.cos(math.pi * wave / restart_interval))


@PARAM_SCHEDULERS.register_module()
class VISSLCosineRestartLR(ProgressCurveLR):
    """FALSE's official learning-rate curve (VISSL linear warm-up + adaptive full-wave cosine restarts).

    The optimizer's learning rate is the peak (4.8 in FALSE); each step sets
    ``lr = peak * vissl_warmup_cosine_restart_factor((step - begin) / (end - begin))``.
    Use ``by_epoch=True, convert_to_iter_based=True`` to update every iteration like VISSL.

    Args:
        optimizer (Optimizer or OptimWrapper): The optimizer whose learning rate is scheduled; its initial
            learning rate is the peak.
        warmup_ratio (float): Fraction of the run spent in the linear warm-up. Defaults to 0.1.
        warmup_start_factor (float): Factor of the peak at the first step of the warm-up (FALSE: 0.6 / 4.8).
            Defaults to 0.125.
        end_factor (float): Factor of the peak the cosine waves decay to (FALSE: 0.0048 / 4.8). Defaults to
            0.001.
        restart_interval (float): Half-period ``L`` of the cosine waves, as a fraction of the post-warm-up
            progress; restarts happen at ``L, 3L, 5L, ...``. Defaults to 0.334.
        begin (int): Step (epoch or iteration, see ``by_epoch``) at which the curve starts. Defaults to 0.
        end (int): Step at which the curve ends (progress 1); must be given, the default ``INF`` is rejected
            because the curve is defined on progress. Defaults to INF.
        last_step (int): Index of the last step, for resuming; -1 starts from ``begin``. Defaults to -1.
        by_epoch (bool): Whether ``begin`` and ``end`` count epochs (with ``convert_to_iter_based=True`` the
            curve is still evaluated every iteration) rather than iterations. Defaults to True.
        verbose (bool): Whether to print the value at each update. Defaults to False.
    """

    def __init__(self, optimizer, warmup_ratio: float = 0.1, warmup_start_factor: float = 0.125,
                 end_factor: float = 0.001, restart_interval: float = 0.334, begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False):
        self.curve = dict(warmup_ratio=warmup_ratio, warmup_start_factor=warmup_start_factor,
                          end_factor=end_factor, restart_interval=restart_interval)
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    def factor(self, progress: float) -> float:
        """:func:`vissl_warmup_cosine_restart_factor` at ``progress`` with this scheduler's curve parameters."""
        return vissl_warmup_cosine_restart_factor(progress, **self.curve)
