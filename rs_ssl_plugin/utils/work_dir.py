"""Where a run writes, the guard that keeps a new run from overwriting an earlier one, and the writes that
an interruption cannot leave half done: files through a temporary name, folders through a staging sibling,
and the choice of the checkpoint a ``--resume`` continues from."""
import glob
import logging
import os
import os.path as osp
import re
import shutil
import uuid
import warnings
import zipfile
from typing import List, Optional, Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import print_log

LAST_CHECKPOINT = 'last_checkpoint'
# the names CheckpointHook gives its regular checkpoints (``filename_tmpl`` epoch_{}.pth / iter_{}.pth)
STEP_CHECKPOINT = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')


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


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose writes go through :func:`write_atomically` (the
    ``ResumableCheckpointHook`` writes checkpoints with it)."""

    def put(self, obj: bytes, filepath) -> None:
        """Write bytes to ``filepath`` atomically."""
        write_atomically(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        write_atomically(str(filepath), obj.encode(encoding))


def checkpoint_is_intact(path: str) -> bool:
    """Whether ``path`` is a complete ``torch.save`` zip: a truncated file has lost the zip's central
    directory, which is written last (checked without reading the tensors)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith('/data.pkl') or name == 'data.pkl' for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def step_checkpoints(folder: str) -> List[str]:
    """The ``epoch_N.pth``/``iter_N.pth`` files of ``folder``, highest ``N`` first."""
    found = [(int(match.group(1)), osp.join(folder, name)) for name in os.listdir(folder)
             if (match := STEP_CHECKPOINT.match(name))] if osp.isdir(folder) else []
    return [path for _, path in sorted(found, reverse=True)]


def read_last_checkpoint(work_dir: str) -> Optional[str]:
    """What ``work_dir/last_checkpoint`` says (stripped), or ``None`` without that file."""
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        return f.read().strip()


def resolve_pointer(work_dir: str, named: str) -> str:
    """The checkpoint a ``last_checkpoint`` entry means: relative names are relative to ``work_dir``, and an
    absolute path into another folder whose file name this work_dir also holds (a copied work_dir) is taken
    from this work_dir, so a copy never continues the original run's files."""
    if not osp.isabs(named):
        return osp.join(work_dir, named)
    local = osp.join(work_dir, osp.basename(named))
    moved = osp.realpath(osp.dirname(named)) != osp.realpath(work_dir)
    return local if moved and osp.isfile(local) else named


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` continues from: the one ``work_dir/last_checkpoint`` names (see
    :func:`resolve_pointer`), or, when the pointer is empty or names a missing or truncated file, the newest
    intact ``epoch_N``/``iter_N`` checkpoint beside it, with a warning. ``None`` without a pointer; raises
    ``FileNotFoundError`` when the pointer exists but no intact checkpoint does."""
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    named = read_last_checkpoint(work_dir)
    if named is None:
        return None
    if named:
        chosen = resolve_pointer(work_dir, named)
        if checkpoint_is_intact(chosen):
            return chosen
        problem = f'names {chosen}, which is {"truncated or unreadable" if osp.exists(chosen) else "missing"}'
        folders = [work_dir, osp.dirname(chosen)]
    else:
        problem, folders = 'is empty', [work_dir]
    for folder in dict.fromkeys(folders):
        for candidate in step_checkpoints(folder):
            if checkpoint_is_intact(candidate):
                warnings.warn(f'{pointer} {problem}; resuming from the newest intact checkpoint, {candidate}')
                return candidate
    raise FileNotFoundError(f'{pointer} {problem}, and {" or ".join(dict.fromkeys(folders))} holds no other '
                            'intact epoch_N.pth/iter_N.pth checkpoint to resume from')


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
