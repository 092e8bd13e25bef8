"""Where a run writes, the guards that keep a new run or tool from overwriting earlier outputs, and the writes
that an interruption cannot leave half done: files through a temporary name, folders through a staging
sibling."""
import glob
import logging
import os
import os.path as osp
import shutil
import uuid
from typing import Optional, Union

from mmengine.logging import print_log

LAST_CHECKPOINT = 'last_checkpoint'


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
    if osp.isfile(osp.join(work_dir, LAST_CHECKPOINT)):
        found.append(osp.join(work_dir, LAST_CHECKPOINT))
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


def require_empty_output_dir(path: str, force: bool = False) -> None:
    """Raise ``FileExistsError`` when ``path`` exists and is a file or a non-empty folder, unless ``force``:
    what a converter or tool writes must not mix with or silently replace earlier outputs."""
    if osp.exists(path) and (not osp.isdir(path) or os.listdir(path)) and not force:
        raise FileExistsError(f'{path} already exists and is not empty; nothing was overwritten '
                              '(choose a new folder or pass --force to write into it)')


def write_atomically(path: str, data: Union[bytes, str]) -> None:
    """Write ``data`` to ``path`` through a temporary sibling renamed over it: readers (and a run killed
    meanwhile) see the old file or the new one, never a truncated one."""
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = osp.join(folder, f'.{name}.partial')
    with open(partial, 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def recover_interrupted_output(out_dir: str) -> None:
    """Undo what a killed writer of ``out_dir`` left: delete its staging folders (``.<name>.partial-*``) and
    put back the old ``out_dir`` that an interrupted :func:`publish_dir` had moved aside. Call it before
    checking ``out_dir``."""
    parent, name = osp.split(osp.abspath(out_dir))
    for stale in glob.glob(osp.join(parent, f'.{glob.escape(name)}.partial-*')):
        print_log(f'removing {stale}, left by an interrupted run', logger='current', level=logging.WARNING)
        shutil.rmtree(stale, ignore_errors=True)
    for aside in glob.glob(osp.join(parent, f'.{glob.escape(name)}.replaced-*')):
        if osp.lexists(out_dir):
            _remove(aside)
        else:
            print_log(f'restoring {out_dir} from {aside}, moved aside by an interrupted run', logger='current',
                      level=logging.WARNING)
            os.rename(aside, out_dir)


def make_staging_dir(out_dir: str) -> str:
    """A new hidden sibling of ``out_dir`` (same file system, so :func:`publish_dir` can rename it) to write
    the output into."""
    parent, name = osp.split(osp.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    # os.mkdir (unlike tempfile.mkdtemp) honours the umask, so the published folder is as readable as any
    staging = osp.join(parent, f'.{name}.partial-{uuid.uuid4().hex[:8]}')
    os.mkdir(staging)
    return staging


def publish_dir(staging: str, out_dir: str, replace: bool = False) -> None:
    """Rename the finished ``staging`` folder to ``out_dir``. An existing ``out_dir`` (which must be empty
    unless ``replace``) is first moved aside and deleted only once the new folder is in place, so an
    interruption leaves the old or the new complete folder, never a mix or a half-deleted one."""
    if osp.isdir(out_dir) and os.listdir(out_dir) and not replace:
        raise FileExistsError(f'{out_dir} is not empty; nothing was overwritten (pass --force to replace it)')
    parent, name = osp.split(osp.abspath(out_dir))
    aside = osp.join(parent, f'.{name}.replaced-{uuid.uuid4().hex[:8]}') if osp.lexists(out_dir) else None
    if aside:
        os.rename(out_dir, aside)
    os.rename(staging, out_dir)
    if aside:
        _remove(aside)


def _remove(path: str) -> None:
    if osp.isdir(path) and not osp.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)
