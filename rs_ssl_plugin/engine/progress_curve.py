"""Base of the learning-rate schedulers defined as a curve over training progress."""
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler


class ProgressCurveLR(LRSchedulerMixin, _ParamScheduler):
    """Base of learning-rate curves defined on training progress: ``lr = base_lr * factor(progress)`` with
    ``progress = (step - begin) / (end - begin)`` in [0, 1). Subclasses implement :meth:`factor`.

    Use ``by_epoch=True, convert_to_iter_based=True`` to update every iteration.
    """

    def __init__(self, optimizer, begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = True,
                 verbose: bool = False):
        if end == INF:
            raise ValueError(f'{type(self).__name__} needs a finite `end` (the curve is defined on progress)')
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, begin=0, end=INF, by_epoch=True, epoch_length=None, **kwargs):
        """Build an iteration-based instance from an epoch-based config."""
        if not by_epoch or not epoch_length:
            raise ValueError('convert_to_iter_based needs by_epoch=True and a known epoch length')
        return cls(*args, begin=int(begin * epoch_length), end=int(end * epoch_length), by_epoch=False,
                   **kwargs)

    def factor(self, progress: float) -> float:
        """Multiplier of the base learning rate at ``progress`` in [0, 1); implemented by subclasses."""
        raise NotImplementedError

    def _get_value(self):
        factor = self.factor((self.last_step - self.begin) / (self.end - self.begin))
        return [base * factor for base in self.base_values]
