"""Runner hooks shared by every method: checkpoints that resume exactly and are never lost half-written,
and the strict check of a checkpoint loaded for testing."""
import glob
import logging
import os
import os.path as osp
from contextlib import contextmanager, nullcontext
from typing import Iterator, Tuple

from mmengine.dist import all_gather_object, broadcast_object_list, get_rank, get_world_size, is_main_process
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from ..checkpoints.fit import checkpoint_weights, require_checkpoint_fits
from ..checkpoints.integrity import find_resume_checkpoint, read_last_checkpoint
from ..checkpoints.reading import CheckpointError
from ..utils.work_dir import LAST_CHECKPOINT, write_atomically
from .random_state import capture_random_state, restore_random_state


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


UNUSED_FILE_CLIENT_WARNINGS = ('"FileClient" will be deprecated in future.',
                               '"HardDiskBackend" is the alias of "LocalBackend"')


@contextmanager
def dropped_messages(logger: logging.Logger, prefixes: Tuple[str, ...]) -> Iterator[None]:
    """Drop the records of ``logger`` whose message starts with one of ``prefixes`` within the block."""
    def keep(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(prefixes)

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


@HOOKS.register_module()
class ResumableCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose checkpoints resume exactly and are never lost half-written.

    - Every checkpoint also holds ``rng_states``: the Python, numpy, torch (and CUDA) generator states of
      every rank. ``--resume`` restores them when training restarts, so together with mmengine's data
      position (the epoch, or the replayed iterations of an iteration-based loop) a killed and resumed run
      repeats the uninterrupted one bitwise. Validation draws no number from the training streams (they
      are set back after it), so it does not matter where a run stopped relative to a validation.
    - Checkpoints and ``last_checkpoint`` are written under a temporary name and renamed (local folders),
      and checkpoints beyond ``max_keep_ckpts`` are deleted only after the new one is complete.
    - ``--resume`` without ``load_from`` reads ``last_checkpoint`` relative to the work_dir (a copied work_dir
      continues its own files) and, if it is empty or names a missing or truncated file, continues from the
      newest intact checkpoint with a warning.

    Exactness needs ``randomness.seed`` set, and data workers whose random streams a resume recreates:
    ``persistent_workers=False`` in epoch-based loops and ``num_workers >= 1`` in iteration-based loops
    (whose skipped batches mmengine loads again). A resume that cannot be exact says why in a warning.

    Args:
        *args: Positional arguments of mmengine's ``CheckpointHook`` (``interval``, ``by_epoch``, ...).
        **kwargs: Keyword arguments of mmengine's ``CheckpointHook``, unchanged: ``interval``, ``by_epoch``,
            ``save_optimizer``, ``save_param_scheduler``, ``out_dir``, ``max_keep_ckpts``, ``save_last``,
            ``save_best``, ``rule``, ``greater_keys``, ``less_keys``, ``file_client_args``, ``filename_tmpl``,
            ``backend_args``, ``published_keys``, ``save_begin``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._rng_states = None  # every rank's training streams, for the checkpoint being written
        self._val_state = None  # this rank's training streams while a validation runs
        self._loaded = None  # (epoch, iter, rng_states) of the checkpoint loaded last

    def before_run(self, runner) -> None:
        """On ``--resume`` without ``load_from``, point ``last_checkpoint`` at the checkpoint to continue."""
        if not runner.cfg.get('resume') or runner.cfg.get('load_from') is not None:
            return
        outcome = [None]
        if is_main_process():
            try:
                chosen = find_resume_checkpoint(runner.work_dir)
                if chosen is not None and chosen != read_last_checkpoint(runner.work_dir):
                    write_atomically(osp.join(runner.work_dir, LAST_CHECKPOINT), chosen)
            except FileNotFoundError as error:
                outcome = [str(error)]
        broadcast_object_list(outcome)
        if outcome[0] is not None:
            raise CheckpointError(outcome[0])

    def before_train(self, runner) -> None:
        """Choose the atomic local backend, drop stale temporary files and restore a resumed run's streams."""
        with self._unused_file_client_quiet(runner):
            super().before_train(runner)
        if self.backend_args is None and self.file_client_args is None and isinstance(self.file_backend,
                                                                                      LocalBackend):
            self.backend_args = dict(backend='atomic_local')
            self.file_backend = get_file_backend(self.out_dir, backend_args=self.backend_args)
            if is_main_process():
                for stale in glob.glob(osp.join(glob.escape(self.out_dir), '.*.pth.partial')):
                    os.remove(stale)
        self._restore_random_streams(runner)

    def _restore_random_streams(self, runner) -> None:
        loaded, self._loaded = self._loaded, None
        if loaded is None or loaded[:2] != (runner.epoch, runner.iter):
            return  # a fresh run, or weights loaded with load_from only
        states = loaded[2]
        if states is None:
            _warn('the resumed checkpoint holds no random generator states (not written by '
                  'ResumableCheckpointHook): the run continues with other random numbers than it would have')
        elif len(states) != get_world_size():
            _warn(f'the resumed checkpoint holds the random states of {len(states)} processes, this run has '
                  f'{get_world_size()}: they are not restored')
        else:
            restore_random_state(states[get_rank()])
            self._warn_about_inexact_resume(runner)

    def _warn_about_inexact_resume(self, runner) -> None:
        loader = runner.train_dataloader
        epoch_based = isinstance(runner.train_loop, EpochBasedTrainLoop)
        if epoch_based and loader.num_workers > 0 and loader.persistent_workers:
            _warn('train_dataloader.persistent_workers=True in an epoch-based loop: the resumed workers start new '
                  'random streams, so augmentations differ from an uninterrupted run (set it to False for an '
                  'exact resume)')
        if not epoch_based and loader.num_workers == 0:
            _warn('train_dataloader.num_workers=0 in an iteration-based loop: loading the skipped batches again '
                  'draws from the training random streams, so the resumed run differs from an uninterrupted '
                  'one (use num_workers >= 1 for an exact resume)')
        if epoch_based and runner.iter % len(loader):
            _warn(f'resumed in the middle of epoch {runner.epoch + 1}: mmengine starts that epoch again from '
                  'its first batch')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the random states of a loaded checkpoint until training starts; warn about another seed."""
        meta = checkpoint.get('meta', {})
        self._loaded = (meta.get('epoch'), meta.get('iter'), checkpoint.get('rng_states'))
        if runner.cfg.get('resume') and meta.get('seed') is not None and meta['seed'] != runner.seed:
            _warn(f'the checkpoint was written with seed {meta["seed"]} but this run built its data samplers '
                  f'and workers with seed {runner.seed}: set randomness.seed={meta["seed"]} for an exact resume')

    def before_val(self, runner) -> None:
        """Put the training streams aside: validation must not change the numbers training draws next."""
        self._val_state = capture_random_state()

    def after_val(self, runner) -> None:
        """Set the training streams back to where validation found them."""
        if self._val_state is not None:
            restore_random_state(self._val_state)
        self._val_state = None

    def _gather_rng_states(self) -> None:
        self._rng_states = all_gather_object(self._val_state or capture_random_state())

    def _save_checkpoint(self, runner) -> None:
        self._gather_rng_states()
        try:
            super()._save_checkpoint(runner)
        finally:  # a checkpoint saved by someone else later gets no stale states
            self._rng_states = None

    def _save_best_checkpoint(self, runner, metrics) -> None:
        self._gather_rng_states()
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self._rng_states = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add every rank's random generator states to the checkpoint."""
        if self._rng_states is not None:
            checkpoint['rng_states'] = self._rng_states

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._unused_file_client_quiet(runner):
            super()._save_best_checkpoint(runner, metrics)

    def _unused_file_client_quiet(self, runner):
        # without file_client_args mmengine builds FileClients it never uses (kept for backward compatibility:
        # CheckpointHook.before_train, save_checkpoint), whose constructor logs deprecation warnings every time
        if self.file_client_args is not None:
            return nullcontext()
        return dropped_messages(runner.logger, UNUSED_FILE_CLIENT_WARNINGS)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine deletes the oldest kept checkpoint before writing the new one, so a run killed while
        # writing could lose its only complete checkpoint: here the new one is written first
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        with self._unused_file_client_quiet(runner):
            runner.save_checkpoint(self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                                   backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        write_atomically(osp.join(runner.work_dir, LAST_CHECKPOINT), self.last_ckpt)
        for old_step in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed writes checkpoints as folders
                self.file_backend.rmtree(path)


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Refuse (:class:`~rs_ssl_plugin.checkpoints.fit.CheckpointMismatchError`) a checkpoint whose weights do
    not fit the model exactly, instead of mmengine's warning; ``tools/test.py`` adds it."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the loaded weights against the runner's model."""
        require_checkpoint_fits(runner.model, checkpoint_weights(checkpoint),
                                runner.cfg.get('load_from') or 'the loaded checkpoint')
