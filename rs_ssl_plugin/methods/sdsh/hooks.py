"""SDSH's per-iteration schedules (DINOv2 recipe, defined on fixed-length "epochs") as one hook."""
import math
from typing import Optional

import numpy as np
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS

from ...engine.schedule_length import log_schedule_fit


def dinov2_cosine_schedule(base: float, final: float, total_iters: int, warmup_iters: int = 0,
                           start_warmup: float = 0.0) -> np.ndarray:
    """DINOv2's ``CosineScheduler`` as an array: ``linspace(start_warmup, base, warmup_iters)`` (both ends
    included), then ``final + (base - final) (1 + cos(pi i / n)) / 2`` for ``i = 0..n-1``,
    ``n = total_iters - warmup_iters``. Past the end the value is ``final``."""
    if not 0 <= warmup_iters <= total_iters:
        raise ValueError(f'warmup_iters {warmup_iters} must be within [0, total_iters={total_iters}]')
    steps = np.arange(total_iters - warmup_iters)
    cosine = final + 0.5 * (base - final) * (1 + np.cos(np.pi * steps / max(len(steps), 1)))
    return np.concatenate([np.linspace(start_warmup, base, warmup_iters), cosine])


def schedule_value(schedule: np.ndarray, it: int, final: float) -> float:
    """``schedule[it]``, or ``final`` past the end of the schedule."""
    return float(schedule[it]) if it < len(schedule) else final


@HOOKS.register_module()
class SDSHScheduleHook(Hook):
    """Learning rate, weight decay, last-layer freeze, teacher temperature and EMA momentum of SDSH.

    One "epoch" is ``epoch_length`` iterations (80 for AID, 30 for UCMD), whatever the dataset size. The
    schedule is written for ``epochs x epoch_length`` iterations and follows the run's ``runner.max_iters``:
    in a shortened or lengthened run every phase (warm-ups, freeze, cosines) is scaled to the run, which logs
    so once at the start (``pin_length`` keeps the configured length). Before each iteration ``it``:

    - ``lr = base_lr sqrt(global_batch / 1024)`` with linear warmup from 0 over ``warmup_epochs`` and
      cosine to ``min_lr``; each group gets ``lr x lr_mult``; the heads' prototype layers
      (``is_last_layer``) get 0 during the first ``freeze_last_layer_epochs``;
    - weight decay cosine ``weight_decay -> weight_decay_end`` times the group's ``wd_mult``;
    - ``model.teacher_temp``: linear ``warmup_teacher_temp -> teacher_temp`` over
      ``warmup_teacher_temp_epochs``, then constant.

    After the optimizer step the teacher is updated with momentum cosine ``momentum -> final_momentum``.
    The parameter groups come from :class:`SDSHOptimWrapperConstructor`.

    Args:
        epoch_length (int): Iterations per schedule "epoch" (DINOv2's ``OFFICIAL_EPOCH_LENGTH``; 80 for AID,
            30 for UCMD). All ``*_epochs`` arguments count such epochs.
        base_lr (float): Peak learning rate for a global batch of 1024; the run's peak is
            ``base_lr * sqrt(global_batch / 1024)``. Defaults to 1e-3.
        min_lr (float): Learning rate at the end of the cosine decay (not batch-scaled). Defaults to 1e-6.
        warmup_epochs (int): Epochs of linear learning-rate warm-up from 0 to the peak. Defaults to 10.
        weight_decay (float): Weight decay at the first iteration. Defaults to 0.04.
        weight_decay_end (float): Weight decay at the last iteration (cosine from ``weight_decay``).
            Defaults to 0.4.
        freeze_last_layer_epochs (int): Epochs during which the heads' prototype layers get learning rate 0.
            Defaults to 1.
        momentum (float): Teacher EMA momentum at the first iteration. Defaults to 0.992.
        final_momentum (float): Teacher EMA momentum at the last iteration (cosine from ``momentum``).
            Defaults to 1.0.
        warmup_teacher_temp (float): Teacher temperature at the first iteration. Defaults to 0.04.
        teacher_temp (float): Teacher temperature after the warm-up. Defaults to 0.07.
        warmup_teacher_temp_epochs (int): Epochs of the linear teacher-temperature warm-up. Defaults to 30.
        global_batch_size (int, optional): Global batch used for the learning-rate scaling. ``None`` takes
            the train dataloader's batch size times the world size. Defaults to None.
        epochs (int, optional): Length of the schedule in epochs (the paper's 100); a run of another length
            gets the schedule scaled to it. ``None`` takes the run's length. Defaults to None.
        pin_length (bool): Whether to keep the schedule at ``epochs`` whatever the run's length: a shorter
            run ends inside it (warned at the start), a longer one continues at the final values. Defaults to
            False.
    """
    priority = 'HIGH'

    def __init__(self, epoch_length: int, base_lr: float = 1e-3, min_lr: float = 1e-6, warmup_epochs: int = 10,
                 weight_decay: float = 0.04, weight_decay_end: float = 0.4, freeze_last_layer_epochs: int = 1,
                 momentum: float = 0.992, final_momentum: float = 1.0, warmup_teacher_temp: float = 0.04,
                 teacher_temp: float = 0.07, warmup_teacher_temp_epochs: int = 30,
                 global_batch_size: Optional[int] = None, epochs: Optional[int] = None, pin_length: bool = False):
        self.epoch_length = epoch_length
        self.base_lr = base_lr
        self.min_lr = min_lr
        self.warmup_epochs = warmup_epochs
        self.weight_decay = (weight_decay, weight_decay_end)
        self.freeze_last_layer_epochs = freeze_last_layer_epochs
        self.momentum = (momentum, final_momentum)
        self.teacher_temp = (warmup_teacher_temp, teacher_temp)
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.global_batch_size = global_batch_size
        self.epochs = epochs
        self.pin_length = pin_length

    def before_train(self, runner) -> None:
        """Build the per-iteration schedules, scaled to ``runner.max_iters`` iterations unless pinned, and the
        run's global batch."""
        epoch = self.epoch_length
        configured = self.epochs * epoch if self.epochs is not None else runner.max_iters
        total = configured if self.pin_length else runner.max_iters
        log_schedule_fit('SDSH schedule (lr, weight decay, last-layer freeze, teacher temperature and momentum)',
                         configured, runner.max_iters, follows_run=not self.pin_length, epoch_length=epoch)

        def iterations(epochs: int) -> int:
            return round(epochs * epoch * total / configured)

        batch = self.global_batch_size or runner.train_dataloader.batch_size * get_world_size()
        self.lr = self.base_lr * math.sqrt(batch / 1024.0)
        self.lr_schedule = dinov2_cosine_schedule(self.lr, self.min_lr, total,
                                                  min(iterations(self.warmup_epochs), total))
        self.last_layer_lr_schedule = self.lr_schedule.copy()
        self.last_layer_lr_schedule[:iterations(self.freeze_last_layer_epochs)] = 0
        self.wd_schedule = dinov2_cosine_schedule(*self.weight_decay, total)
        self.momentum_schedule = dinov2_cosine_schedule(*self.momentum, total)
        temp_iters = iterations(self.warmup_teacher_temp_epochs)
        self.temp_schedule = dinov2_cosine_schedule(self.teacher_temp[1], self.teacher_temp[1], temp_iters,
                                                    temp_iters, self.teacher_temp[0])
        runner.logger.info(f'SDSH schedule: global batch {batch}, peak lr {self.lr:.3g}, {total} iterations of '
                           f'{epoch}-iteration epochs')

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Set every group's ``lr`` and ``weight_decay`` and the model's ``teacher_temp`` for this iteration."""
        it = runner.iter
        lr = schedule_value(self.lr_schedule, it, self.min_lr)
        last_layer_lr = schedule_value(self.last_layer_lr_schedule, it, self.min_lr)
        wd = schedule_value(self.wd_schedule, it, self.weight_decay[1])
        for group in runner.optim_wrapper.optimizer.param_groups:
            group['lr'] = (last_layer_lr if group['is_last_layer'] else lr) * group['lr_mult']
            group['weight_decay'] = wd * group['wd_mult']
        self._model(runner).teacher_temp = schedule_value(self.temp_schedule, it, self.teacher_temp[1])
        # the logged `lr` is the first group's (scaled by its multiplier); this is the schedule's value
        runner.message_hub.update_scalar('train/base_lr', lr)
        runner.message_hub.update_scalar('train/weight_decay', wd)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """EMA-update the teacher with this iteration's momentum."""
        momentum = schedule_value(self.momentum_schedule, runner.iter, self.momentum[1])
        self._model(runner).update_teacher(momentum)
        runner.message_hub.update_scalar('train/teacher_momentum', momentum)
