"""Segmenting an archive of scenes in one or more processes, resumably (``tools/infer_tiles.py``,
``tools/infer_tiles.sh``; docs/inference.md "An archive on several GPUs").

Every scene ``<stem>`` gets ``<stem>_classes.tif``, ``<stem>_color.png`` and ``<stem>_legend.png``, each
written under a temporary name and renamed once complete, and a completion record ``<stem>_inference.json``
(written atomically) that says which run wrote them: the :func:`run_fingerprint` (a digest of the weights and
of the config, the classes, palette, class coding, windows, blending and autocast) and the scene file's size and
modification time. Its ``state`` is ``started`` from just before the first output is renamed and ``complete``
once all three are in place, with their sizes. On a re-run (:func:`plan_archive`) a scene is

- skipped when its record is ``complete``, matches this run and the scene, and its outputs have the recorded
  sizes;
- redone when its record is ``started`` (a run was stopped while renaming), when none of its outputs exists
  (a run stopped before renaming leaves only ``*.partial.*`` files, which are overwritten) or when its outputs
  were written by this very run but one is missing or changed;
- otherwise refused unless ``force``: outputs without a record, or with a record of another run (the message
  names what differs), are not overwritten silently.

Processes agree on one plan, made by rank 0 and broadcast, and each segments its share
(:func:`balanced_shards`, by pixel count); they meet again only to gather the outcomes.
"""
import datetime
import hashlib
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, broadcast_object_list, get_rank
from torch import nn

from ..utils.work_dir import write_atomically
from ..visualization.legend import write_legend
from .scene_io import RasterScene, segment_raster, temporary_name
from .tiled_inference import ClassCoding

OUTPUT_KINDS = ('classes.tif', 'color.png', 'legend.png')
RECORD_KIND = 'inference.json'
# The processes wait for each other only at the start (the plan) and at the end (the outcomes), where the first
# to finish waits for the last: far longer than torch's 30 minutes, so that an uneven share does not end the job.
GROUP_TIMEOUT = datetime.timedelta(days=7)


@dataclass(frozen=True)
class SceneJob:
    """A scene and the files its inference writes into ``out_dir``."""
    scene: str
    out_dir: str

    def _path(self, kind: str) -> str:
        return osp.join(self.out_dir, f'{osp.splitext(osp.basename(self.scene))[0]}_{kind}')

    @property
    def outputs(self) -> Tuple[str, str, str]:
        """The class GeoTIFF, the colour PNG and the legend PNG."""
        return tuple(self._path(kind) for kind in OUTPUT_KINDS)

    @property
    def record(self) -> str:
        """The completion record."""
        return self._path(RECORD_KIND)


def scene_jobs(scenes: Sequence[str], out_dir: str) -> List[SceneJob]:
    """One job per scene; ``ValueError`` when two scenes would write the same outputs."""
    owners = {}
    for scene in scenes:
        stem = osp.splitext(osp.basename(scene))[0]
        if stem in owners:
            raise ValueError(f'{owners[stem]} and {scene} would both write {stem}_classes.tif: '
                             'segment them into different --out-dir folders')
        owners[stem] = scene
    return [SceneJob(scene, out_dir) for scene in scenes]


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of the model's state dict (names, dtypes, shapes and values), wherever the weights came from."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f'{name} {tensor.dtype} {tuple(tensor.shape)}'.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def run_fingerprint(model: nn.Module, names: Sequence[str], palette: Sequence[Sequence[int]], coding: ClassCoding,
                    crop_size: Tuple[int, int], stride: Tuple[int, int], blend: str, amp: str) -> dict:
    """What decides the outputs of a scene, as JSON values: digests of the weights and of the config (with its
    ``--cfg-options``; the image loader's value range is part of it), the class names, their colours and codes,
    the windows, the blending and the autocast dtype. The device and the batch size are not part of it: they
    change rounding, not what is computed."""
    config = json.dumps(model.cfg.to_dict(), default=str)
    return dict(weights_sha256=weights_digest(model), config_sha256=hashlib.sha256(config.encode()).hexdigest(),
                classes=list(names), palette=[[int(c) for c in rgb] for rgb in palette[:len(names)]],
                coding=asdict(coding), crop_size=list(crop_size), stride=list(stride), blend=blend, amp=amp)


def scene_identity(path: str) -> dict:
    """The scene file as a record names it: its name, size and modification time."""
    stat = os.stat(path)
    return dict(file=osp.basename(path), bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)


def _read_record(path: str) -> Optional[dict]:
    """The completion record at ``path``; ``None`` when the file is not one."""
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
    except ValueError:  # not JSON, or not text
        return None
    valid = (isinstance(record, dict) and record.get('state') in ('started', 'complete')
             and isinstance(record.get('run'), dict))
    return record if valid else None


def _write_record(job: SceneJob, state: str, run: dict, identity: dict) -> None:
    record = dict(state=state, scene=identity, run=run)
    if state == 'complete':
        record['outputs'] = {osp.basename(path): os.path.getsize(path) for path in job.outputs}
    write_atomically(job.record, json.dumps(record, indent=1) + '\n')


def _decide(job: SceneJob, run: dict) -> Tuple[str, Optional[str]]:
    """``('skip', None)``, ``('do', None)`` or ``('refuse', why)`` for ``job`` (the module docstring's rule)."""
    present = [path for path in job.outputs if osp.exists(path)]
    if not osp.exists(job.record):
        return ('refuse', f'{present[0]} exists') if present else ('do', None)
    record = _read_record(job.record)
    if record is None:
        return 'refuse', f'{job.record} is not a completion record of tools/infer_tiles.py'
    if record['state'] == 'started' or not present:
        return 'do', None
    written_by = dict(record['run'], scene=record.get('scene'))
    wanted = dict(run, scene=scene_identity(job.scene))
    differing = sorted(key for key in set(written_by) | set(wanted) if written_by.get(key) != wanted.get(key))
    if differing:
        return 'refuse', f'{present[0]} was written by another run ({", ".join(differing)} differ; see {job.record})'
    sizes = record.get('outputs') or {}
    intact = all(osp.isfile(path) and osp.getsize(path) == sizes.get(osp.basename(path)) for path in job.outputs)
    return ('skip', None) if intact else ('do', None)


@dataclass
class ArchivePlan:
    """What a run does: the scenes ``to_do`` with their ``(height, width)``, those ``skipped`` (complete) and
    those that ``failed`` already (scene, reason: unreadable)."""
    to_do: List[Tuple[SceneJob, Tuple[int, int]]]
    skipped: List[SceneJob]
    failed: List[Tuple[str, str]]

    def share(self, rank: int, world_size: int) -> List[Tuple[SceneJob, Tuple[int, int]]]:
        """The scenes process ``rank`` of ``world_size`` segments (:func:`balanced_shards` by pixel count)."""
        shards = balanced_shards([height * width for _, (height, width) in self.to_do], world_size)
        return [self.to_do[index] for index in shards[rank]]


def plan_archive(jobs: Sequence[SceneJob], run: dict, force: bool = False) -> ArchivePlan:
    """Sort ``jobs`` into skipped, to do and failed (a scene that cannot be opened) by the rule of the module
    docstring. Without ``force``, outputs that rule does not allow to overwrite stop the run before anything is
    written: ``FileExistsError`` naming the first and counting the others."""
    to_do, skipped, failed, refusals = [], [], [], []
    for job in jobs:
        try:
            decision, why = _decide(job, run)
            if decision == 'skip':
                skipped.append(job)
            elif decision == 'refuse' and not force:
                refusals.append(why)
            else:
                with RasterScene(job.scene) as scene:  # the header only: for the progress and the balance
                    to_do.append((job, (scene.height, scene.width)))
        except OSError as error:
            failed.append((job.scene, str(error)))
    if refusals:
        others = f' (and the outputs of {len(refusals) - 1} more scene(s))' if len(refusals) > 1 else ''
        raise FileExistsError(f'{refusals[0]}{others}; pass --force to overwrite {"them" if others else "it"}')
    return ArchivePlan(to_do, skipped, failed)


def shared_plan(jobs: Sequence[SceneJob], run: dict, force: bool = False) -> ArchivePlan:
    """:func:`plan_archive` made by rank 0 and sent to every process, so all of them share the scenes by the
    same view of the out-dir (another process may be writing into it already); its refusal is raised in every
    process."""
    plan = [None]
    if get_rank() == 0:
        try:
            plan[0] = plan_archive(jobs, run, force)
        except FileExistsError as refusal:
            plan[0] = refusal
    broadcast_object_list(plan)
    if isinstance(plan[0], FileExistsError):
        raise plan[0]
    return plan[0]


def balanced_shards(weights: Sequence[int], parts: int) -> List[List[int]]:
    """Indices of ``weights`` split into ``parts`` lists with sums as even as the greedy longest-first rule makes
    them (the heaviest item goes to the lightest part, ties to the lower part; at most 4/3 of the best split's
    largest sum). Deterministic; each list in index order."""
    shards, loads = [[] for _ in range(parts)], [0] * parts
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        lightest = loads.index(min(loads))
        shards[lightest].append(index)
        loads[lightest] += weights[index]
    return [sorted(shard) for shard in shards]


def segment_scene(model: nn.Module, job: SceneJob, run: dict, palette: Sequence[Sequence[int]],
                  names: Sequence[str], coding: ClassCoding, crop_size, stride, **options) -> None:
    """Write the outputs and the completion record of one scene (the module docstring's order). ``options`` are
    those of :func:`~rs_ssl_plugin.apis.scene_io.segment_raster` (``progress``, ``batch_size``, ...). If reading
    or segmenting fails, the temporary files are removed and the outputs and record are left as they were; if
    renaming fails, the record stays ``started``, so a re-run redoes the scene."""
    classes_path, colour_path, legend_path = job.outputs
    identity = scene_identity(job.scene)
    legend_partial = temporary_name(legend_path)
    try:
        write_legend(legend_partial, names, palette[:len(names)], f'classes of {osp.basename(colour_path)}')
        with RasterScene(job.scene) as scene:
            segment_raster(model, scene, classes_path, colour_path, palette, crop_size, stride, names, coding,
                           before_commit=lambda: _write_record(job, 'started', run, identity), **options)
        os.replace(legend_partial, legend_path)
    finally:
        if osp.exists(legend_partial):
            os.remove(legend_partial)
    _write_record(job, 'complete', run, identity)


def join_processes(launcher: str, device: str) -> str:
    """Join the process group of ``launcher`` (``'pytorch'``: torchrun's environment; ``'none'``: a single
    process) and return the device this process runs on: with ``device='cuda'``, the GPU of its local rank.
    The group is gloo's whatever the device: only the plan and the outcomes (Python objects) are exchanged."""
    if launcher == 'none':
        return device
    if torch.device(device).type == 'cuda':
        if torch.device(device).index is not None:
            raise ValueError(f'--device {device} names one GPU, but with --launcher {launcher} each process takes '
                             'the GPU of its local rank: pass --device cuda (or cpu)')
        local_rank = int(os.environ['LOCAL_RANK'])
        torch.cuda.set_device(local_rank)  # so that no process makes a CUDA context on GPU 0 as well
        device = f'cuda:{local_rank}'
    torch_dist.init_process_group('gloo', timeout=GROUP_TIMEOUT)
    return device


def gather_outcomes(segmented: List[SceneJob],
                    failed: List[Tuple[str, str]]) -> Tuple[List[SceneJob], List[Tuple[str, str]]]:
    """The scenes every process segmented and those whose segmentation failed (scene, reason), each sorted by
    scene path."""
    gathered = all_gather_object((segmented, failed))
    all_segmented = [job for done, _ in gathered for job in done]
    all_failed = [failure for _, failures in gathered for failure in failures]
    return sorted(all_segmented, key=lambda job: job.scene), sorted(all_failed)


def outcome_report(plan: ArchivePlan, segmented: List[SceneJob],
                   failed: List[Tuple[str, str]]) -> Tuple[str, Optional[str]]:
    """The summary of a run (counts, then the files written) and, when scenes failed (while segmenting:
    ``failed``, or already when planned), the error listing each with its reason."""
    failed = sorted(plan.failed + failed)
    lines = [f'{len(segmented)} scene(s) segmented, {len(plan.skipped)} skipped (complete from an earlier run '
             f'with this checkpoint, config and settings), {len(failed)} failed']
    written = [path for job in segmented for path in (*job.outputs, job.record)]
    lines.append('wrote:\n' + '\n'.join(f'  {path}' for path in written) if written else 'wrote nothing')
    if not failed:
        return '\n'.join(lines), None
    scenes = len(segmented) + len(plan.skipped) + len(failed)
    return '\n'.join(lines), (f'{len(failed)} of {scenes} scene(s) failed:\n'
                              + '\n'.join(f'  {scene}: {reason}' for scene, reason in failed))
