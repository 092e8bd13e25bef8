"""Checkpoint integrity: atomic checkpoint writes (the ``atomic_local`` file backend), the check that a
checkpoint file is complete, and the choice of the checkpoint a ``--resume`` continues from."""
import os
import os.path as osp
import re
import warnings
import zipfile
from typing import List, Optional

from mmengine.fileio import LocalBackend, register_backend

from ..utils.work_dir import LAST_CHECKPOINT, write_atomically

# the names CheckpointHook gives its regular checkpoints (``filename_tmpl`` epoch_{}.pth / iter_{}.pth)
STEP_CHECKPOINT = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')


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
