"""A runner hook that logs, once per epoch, how many corrupt images ``UnlabeledImageFolder`` skipped in all
dataloader workers of all processes."""
import logging
from typing import Iterator

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpretrain.registry import HOOKS

from ..datasets.unlabeled import UnlabeledImageFolder


def unlabeled_folders(dataset) -> Iterator[UnlabeledImageFolder]:
    """The ``UnlabeledImageFolder`` datasets in ``dataset``, looking through mmengine's dataset wrappers
    (``ConcatDataset.datasets``, ``RepeatDataset``/``ClassBalancedDataset.dataset``)."""
    if isinstance(dataset, UnlabeledImageFolder):
        yield dataset
    for inner in getattr(dataset, 'datasets', None) or [getattr(dataset, 'dataset', None)]:
        if inner is not None:
            yield from unlabeled_folders(inner)


def skipped_on_any_rank(dataset: UnlabeledImageFolder) -> torch.Tensor:
    """The dataset's per-sample skipped flags, OR-ed over all ranks (each rank's workers set their own)."""
    flags = dataset.skipped.clone()
    all_reduce(flags, op='max')
    return flags


@HOOKS.register_module()
class CorruptImageReportHook(Hook):
    """After every training epoch (and at the end of an iteration-based run), logs the number of distinct
    corrupt images that ``UnlabeledImageFolder(on_corrupt='skip')`` skipped so far, summed over dataloader
    workers and ranks, with the number new in this epoch and the first paths. Silent while nothing is
    skipped. The plugin's unlabeled dataset configs enable it.

    Args:
        show_paths (int): How many of the new paths to name in each report. Defaults to 5.
    """
    priority = 'LOW'

    def __init__(self, show_paths: int = 5):
        self.show_paths = show_paths
        self._reported = {}

    def after_train_epoch(self, runner) -> None:
        """Gather the flags of every rank and log the totals (every rank takes part in the all-reduce)."""
        for dataset in unlabeled_folders(runner.train_dataloader.dataset):
            flags = skipped_on_any_rank(dataset)
            earlier = self._reported.get(id(dataset), torch.zeros_like(flags))
            self._reported[id(dataset)] = flags
            new = (flags > earlier).nonzero().flatten().tolist()
            if not new:
                continue
            shown = ', '.join(dataset.get_data_info(i)['img_path'] for i in new[:self.show_paths])
            more = f' and {len(new) - self.show_paths} more' if len(new) > self.show_paths else ''
            print_log(f'UnlabeledImageFolder ({dataset.data_root}): {int(flags.sum())} corrupt image(s) of '
                      f'{len(flags)} skipped so far over all workers and ranks, {len(new)} new in epoch '
                      f'{runner.epoch + 1}: {shown}{more}', logger='current', level=logging.WARNING)
