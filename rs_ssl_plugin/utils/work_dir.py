"""Where a run writes, and the guard that keeps a new run from overwriting an earlier one."""
import glob
import os.path as osp
from typing import Optional


def resolve_work_dir(cli_work_dir: Optional[str], config_work_dir: Optional[str], config_path: str) -> str:
    """mmseg's priority: ``--work-dir`` > the config's ``work_dir`` > ``./work_dirs/<config file stem>``."""
    if cli_work_dir is not None:
        return cli_work_dir
    if config_work_dir is not None:
        return config_work_dir
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def find_checkpoints(work_dir: str) -> list:
    """The ``*.pth`` files and the ``last_checkpoint`` pointer directly inside ``work_dir``, sorted."""
    found = glob.glob(osp.join(work_dir, '*.pth'))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.append(osp.join(work_dir, 'last_checkpoint'))
    return sorted(found)


def check_work_dir_is_fresh(work_dir: str, resume: bool) -> None:
    """Raise ``FileExistsError`` when ``work_dir`` already holds checkpoints and the run does not resume.

    mmengine's CheckpointHook silently overwrites ``epoch_N.pth``/``iter_N.pth`` and ``last_checkpoint`` of
    an earlier run in the same work_dir, so a repeated command would destroy its results.
    """
    if resume:
        return
    found = find_checkpoints(work_dir)
    if found:
        names = ', '.join(osp.basename(path) for path in found)
        raise FileExistsError(f'work_dir {work_dir} already holds checkpoints ({names}); pass --resume to '
                              'continue that run or choose another --work-dir (nothing was overwritten)')
