"""Corrupt images skipped by UnlabeledImageFolder(on_corrupt='skip') are counted over all dataloader workers
(shared flags) and, by CorruptImageReportHook, over all ranks, once per epoch."""
from types import SimpleNamespace

import cv2
import numpy as np
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmpretrain.registry import DATASETS

import rs_ssl_plugin  # noqa: F401
from helpers.distributed import run_in_processes
from helpers.logs import LogRecords

NUM_FILES, CORRUPT = 12, (1, 2, 4, 5, 7, 10, 11)


def write_folder(folder):
    for i in range(NUM_FILES):
        cv2.imwrite(str(folder / f'{i:02d}.png'), np.full((8, 8, 3), i, np.uint8))
    for i in CORRUPT:
        (folder / f'{i:02d}.png').write_bytes(b'not an image')


def build(folder):
    init_default_scope('mmpretrain')
    return DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(folder), on_corrupt='skip',
                               pipeline=[dict(type='CheckedLoadImageFromFile')], max_refetch=50))


def test_workers_count_into_one_total(tmp_path):
    write_folder(tmp_path)
    dataset = build(tmp_path)
    for _ in torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=list):
        pass
    assert dataset.num_skipped == len(CORRUPT)  # the main process sees what both workers skipped
    assert dataset.skipped_paths == [str(tmp_path / f'{i:02d}.png') for i in CORRUPT]


def report_on_rank(rank, folder):
    """Epoch 1: rank r reads every other sample of the first ten from r (rank 0 skips 02, 04; rank 1 skips 01,
    05, 07); epoch 2: rank 0 reads 10, rank 1 reads 11, both corrupt. Returns (skips seen by this rank, the
    reports logged on it)."""
    import warnings

    dataset = build(folder)
    records = LogRecords()
    MMLogger.get_instance(f'report-{rank}').addHandler(records)
    hook = rs_ssl_plugin.engine.CorruptImageReportHook(show_paths=2)
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(dataset=dataset), epoch=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for index in range(rank, 10, 2):
            dataset.prepare_data(index)  # no refetch of another random index: the skips are known
        local = dataset.num_skipped
        hook.after_train_epoch(runner)
        hook.after_train_epoch(runner)  # nothing new: nothing logged
        runner.epoch = 1
        dataset.prepare_data(10 + rank)
        hook.after_train_epoch(runner)
    return local, [m for m in records.messages if 'corrupt image' in m]


def test_report_sums_workers_and_ranks_once_per_epoch(tmp_path):
    write_folder(tmp_path)
    results = run_in_processes(report_on_rank, 2, tmp_path)
    assert [local for local, _ in results] == [2, 3]
    for _, reports in results:
        assert len(reports) == 2, reports
        assert f'5 corrupt image(s) of {NUM_FILES} skipped so far over all workers and ranks, 5 new in epoch 1: ' \
            in reports[0]
        assert reports[0].endswith(f'{tmp_path}/01.png, {tmp_path}/02.png and 3 more')
        assert reports[1].endswith(f'7 corrupt image(s) of {NUM_FILES} skipped so far over all workers and ranks, '
                                   f'2 new in epoch 2: {tmp_path}/10.png, {tmp_path}/11.png')
