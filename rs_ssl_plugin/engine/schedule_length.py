"""The run-length rule of the plugin's schedules: a schedule follows the run's length (``train_cfg``'s
``max_epochs``/``max_iters``) unless pinned explicitly, and a run says once at its start which schedule was
squeezed or stretched to fit it, or cannot finish within it."""
import logging
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS


def count(number: int, unit: str) -> str:
    """``'1 epoch'``, ``'2 epochs'``."""
    return f'{number} {unit}' if number == 1 else f'{number} {unit}s'


def describe_length(iters: int, epoch_length: Optional[int]) -> str:
    """``'200 epochs (2400 iterations)'`` for whole epochs of ``epoch_length`` iterations, else
    ``'2400 iterations'``."""
    if epoch_length and iters % epoch_length == 0:
        return f'{count(iters // epoch_length, "epoch")} ({count(iters, "iteration")})'
    return count(iters, 'iteration')


def log_schedule_fit(name: str, configured_iters: int, run_iters: int, follows_run: bool,
                     epoch_length: Optional[int] = None) -> None:
    """Log one line where the schedule ``name`` and the run differ in length: squeezed or stretched to the run
    (``follows_run``, info), or pinned longer than the run (warning: it cannot finish). Silent otherwise, and
    for a pinned schedule that ends before the run (a warm-up, a first phase)."""
    configured = describe_length(configured_iters, epoch_length)
    run = describe_length(run_iters, epoch_length)
    if follows_run and configured_iters != run_iters:
        fit = 'squeezed' if run_iters < configured_iters else 'stretched'
        print_log(f'{name}: {fit} from the configured {configured} to the run\'s {run} (schedules follow the run\'s '
                  'length)', logger='current')
    elif not follows_run and configured_iters > run_iters:
        print_log(f'{name}: pinned to {configured} but the run has {run}, so it cannot finish (leave its length '
                  'unset to follow the run)', logger='current', level=logging.WARNING)


def leave_out_schedulers_after_run(cfg: Config) -> None:
    """Drop, with a warning, the ``param_scheduler`` entries that follow the run (no ``end``) but begin at or
    after its end: mmengine would end them with the run, before their begin, and refuse to build them. That
    is the decay after a pinned warm-up (mmseg's Swin recipe: 1500 iterations) in a run shortened below the
    warm-up, which then trains in the warm-up only. Compared where a scheduler counts in the training loop's
    unit (``by_epoch`` with ``max_epochs``, iterations with ``max_iters``)."""
    schedulers = cfg.get('param_scheduler')
    if not isinstance(schedulers, (list, tuple)):
        return
    train_cfg = cfg.get('train_cfg') or {}
    run_lengths = {True: (train_cfg.get('max_epochs'), 'epoch'), False: (train_cfg.get('max_iters'), 'iteration')}
    kept = []
    for scheduler in schedulers:
        run_length, unit = run_lengths[scheduler.get('by_epoch', True)]
        begin = scheduler.get('begin', 0)
        if 'end' not in scheduler and run_length is not None and begin >= run_length:
            print_log(f'{scheduler["type"]}: begins at {unit} {begin}, after the run\'s {count(run_length, unit)}, so '
                      'it is left out', logger='current', level=logging.WARNING)
        else:
            kept.append(scheduler)
    cfg.param_scheduler = kept


@HOOKS.register_module()
class ScheduleLengthHook(Hook):
    """Reports, once at the start of training, how the config's parameter schedulers fit the run's length.

    The plugin's configs (pre-training, IDDC, fine-tuning) leave ``end`` out of their decaying
    ``param_scheduler`` entries, so mmengine's Runner ends them with the training loop
    (``train_cfg.max_epochs``/``max_iters``): the schedule follows the run. This hook knows the length the
    config was written for and logs one line per schedule that was squeezed or stretched to a shortened or
    lengthened run (``--cfg-options train_cfg.max_epochs=2``), and a warning for a scheduler whose explicit
    ``end`` lies beyond the run's last step (pinned: it cannot finish). Schedules that end before the run
    (warm-ups) are normal and not reported.

    Args:
        max_epochs (int, optional): The run length, in epochs, the config's schedules were written for (the
            paper's). Give this or ``max_iters``. Defaults to None.
        max_iters (int, optional): The same in iterations, for iteration-based configs. Defaults to None.
        method_schedules (Sequence[str]): Names of schedules outside ``param_scheduler`` that span the run's
            iterations too (e.g. ``'teacher momentum'`` of mmpretrain's ``CosineEMA``, which reads the run's
            ``max_iters``), reported with the followers. Defaults to ().
    """
    def __init__(self, max_epochs: Optional[int] = None, max_iters: Optional[int] = None,
                 method_schedules: Sequence[str] = ()):
        if (max_epochs is None) == (max_iters is None):
            raise ValueError('ScheduleLengthHook needs exactly one of max_epochs and max_iters (the length the '
                             'schedules were configured for)')
        self.max_epochs = max_epochs
        self.max_iters = max_iters
        self.method_schedules = list(method_schedules)

    def before_train(self, runner) -> None:
        """Compare every built parameter scheduler (and ``method_schedules``) with the run's length."""
        epoch_length = len(runner.train_dataloader)
        # an iteration-based config counts in iterations only; its loader's length is no unit of its schedules
        told_epoch_length = epoch_length if self.max_iters is None else None
        run_iters = runner.max_iters
        configured_iters = self.max_iters if self.max_iters is not None else self.max_epochs * epoch_length
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):  # one list per optimizer of an OptimWrapperDict
            schedulers = [scheduler for group in schedulers.values() for scheduler in group]
        followers = []
        for scheduler in schedulers:
            steps = 1 if not scheduler.by_epoch else epoch_length
            name = type(scheduler).__name__
            if scheduler.end * steps == run_iters:
                followers.append(name)
            else:
                log_schedule_fit(name, scheduler.end * steps, run_iters, follows_run=False,
                                 epoch_length=told_epoch_length)
        followers += self.method_schedules
        if followers:
            log_schedule_fit(' and '.join(followers), configured_iters, run_iters, follows_run=True,
                             epoch_length=told_epoch_length)
