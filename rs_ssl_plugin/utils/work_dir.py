import glob
import os.path as osp


def check_work_dir_is_fresh(work_dir: str, resume: bool) -> None:
    """Refuse to train into a work_dir that already holds checkpoints unless resuming.

    mmengine's CheckpointHook would silently overwrite ``epoch_N.pth``/``iter_N.pth`` and
    ``last_checkpoint`` of an earlier run.
    """
    if resume or not osp.isdir(work_dir):
        return
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')))
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        found.append(osp.join(work_dir, 'last_checkpoint'))
    if found:
        shown = ', '.join(osp.basename(f) for f in found[:5]) + (' ...' if len(found) > 5 else '')
        raise FileExistsError(f'work_dir {work_dir} already holds checkpoints ({shown}); pass --resume to '
                              'continue that run or choose another --work-dir (nothing was overwritten)')
