"""SDSH retrieval from the command line's point of view: evaluate a checkpoint on a config's test set, or index
a folder of images with the teacher's hash codes and rank it by Hamming distance for a query image
(``tools/retrieve.py``). Ties in Hamming distance keep index order (sorted file paths).

A saved index holds the fingerprint of the model that encoded it (hashes of the config's model and test
pipeline and of the loaded weights, and the code length): codes of another model are not comparable, so
such an index is refused; another file holding the same weights is the same model."""
import hashlib
import io
import json
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.utils import ProgressBar
from mmpretrain.registry import MODELS

from ...checkpoints.fit import load_checkpoint_strictly
from ...checkpoints.reading import load_checkpoint_file
from ...datasets.checks import list_images, require_dir
from ...engine.runner_config import enable_strict_checkpoint_loading
from ...utils.work_dir import write_atomically
from .metric import binarize, hamming_distance

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.gif')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config at ``path`` with ``cfg_options`` (as parsed by mmengine's ``DictAction``) merged in."""
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def refuse_overwrite(path: Optional[str], force: bool) -> None:
    """Raise ``FileExistsError`` if ``path`` exists and ``force`` is not set."""
    if path and osp.exists(path) and not force:
        raise FileExistsError(f'{path} already exists; pass --force to overwrite it')


def evaluate_retrieval(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                       work_dir: Optional[str] = None, pr_curve: Optional[str] = None,
                       force: bool = False) -> Dict[str, float]:
    """Test ``checkpoint`` on the config's test set (database + queries) with its ``RetrievalMetric``; with
    ``pr_curve`` the precision-recall plot (and ``.json``) is saved there. Returns the metrics."""
    cfg = load_config(config, cfg_options)
    refuse_overwrite(pr_curve, force)
    cfg.work_dir = work_dir or osp.join('work_dirs', osp.splitext(osp.basename(config))[0] + '_retrieval')
    cfg.load_from = checkpoint
    enable_strict_checkpoint_loading(cfg)
    cfg.model.backbone.pop('init_cfg', None)
    if pr_curve:
        cfg.test_evaluator.pr_curve_file = pr_curve
    return Runner.from_cfg(cfg).test()


def build_model(cfg: Config, checkpoint: str, device: str = 'cpu'):
    """The config's SDSH model with ``checkpoint`` loaded strictly, in eval mode on ``device``."""
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    load_checkpoint_strictly(model, checkpoint)
    return model.to(device).eval()


def weights_sha256(state_dict: Dict[str, torch.Tensor]) -> str:
    """The SHA-256 over the sorted keys with each tensor's dtype, shape and bytes: equal for any two files
    holding the same weights (whatever else they pickle, in whatever order)."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f'{key}:{tensor.dtype}:{tuple(tensor.shape)}\n'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def model_fingerprint(cfg: Config, model: torch.nn.Module) -> Dict[str, str]:
    """What makes two sets of codes comparable: the model and test pipeline of the config (without
    ``init_cfg``, which the checkpoint overrides) and the weights loaded into ``model``, as SHA-256 hashes."""
    described_model = cfg.model.to_dict()
    described_model.get('backbone', {}).pop('init_cfg', None)
    pipeline = Config(dict(p=cfg.test_dataloader.dataset.pipeline)).to_dict()
    described = json.dumps(dict(model=described_model, pipeline=pipeline), sort_keys=True, default=str)
    return dict(config=hashlib.sha256(described.encode()).hexdigest(), weights=weights_sha256(model.state_dict()))


def write_index(path: str, paths: List[str], codes: torch.Tensor, fingerprint: Dict[str, str]) -> None:
    """Write an index (image paths, their codes, the model fingerprint and code length) atomically."""
    buffer = io.BytesIO()
    torch.save(dict(paths=paths, codes=codes, fingerprint=dict(fingerprint, bits=codes.size(1))), buffer)
    write_atomically(path, buffer.getvalue())


def read_index(path: str) -> Tuple[List[str], torch.Tensor, Dict[str, str]]:
    """The paths, codes and fingerprint of an index written by :func:`write_index`; ``ValueError`` naming the
    file for anything else."""
    index = load_checkpoint_file(path)
    written_by = 'a dict with paths, codes and fingerprint written by tools/retrieve.py search --save-index'
    if not isinstance(index, dict):
        raise ValueError(f'{path} holds a {type(index).__name__}, not a retrieval index ({written_by})')
    missing = [key for key in ('paths', 'codes', 'fingerprint') if key not in index]
    if missing:
        raise ValueError(f'{path} is not a retrieval index: it has no {", ".join(missing)} (keys: {sorted(index)}; '
                         f'expected {written_by}; rebuild it with --save-index)')
    paths, codes, saved = index['paths'], index['codes'], index['fingerprint']
    if not (torch.is_tensor(codes) and codes.dim() == 2):
        raise ValueError(f'{path}: codes must be a (images, bits) tensor, got {type(codes).__name__}'
                         f'{" of shape " + str(tuple(codes.shape)) if torch.is_tensor(codes) else ""}')
    if not (isinstance(paths, (list, tuple)) and all(isinstance(p, str) for p in paths)):
        raise ValueError(f'{path}: paths must be a list of file names, got {type(paths).__name__}')
    if len(paths) != codes.size(0):
        raise ValueError(f'{path} holds {len(paths)} paths for {codes.size(0)} codes')
    if not isinstance(saved, dict) or saved.get('bits') != codes.size(1):
        raise ValueError(f'{path}: the fingerprint does not describe its {codes.size(1)}-bit codes')
    return list(paths), codes, saved


def require_same_model(path: str, saved: Dict[str, str], fingerprint: Dict[str, str]) -> None:
    """``ValueError`` naming the index file and the differing hashes unless the fingerprint saved with it is
    ``fingerprint``."""
    differ = [f'{key} sha256 {str(saved.get(key))[:12]} vs {value[:12]}' for key, value in fingerprint.items()
              if saved.get(key) != value]
    if differ:
        raise ValueError(f'{path} was encoded by another model than this config and checkpoint ({"; ".join(differ)}): '
                         'its codes are not comparable; rebuild it with --save-index')


def encode(model, cfg: Config, paths: Sequence[str], batch_size: int, progress: bool = False) -> torch.Tensor:
    """Binary codes ``(len(paths), bits)`` of the images with the config's test pipeline; with ``progress`` a
    progress bar counts the images."""
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    bar = ProgressBar(len(paths), file=sys.stdout) if progress else None
    codes = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            chunk = paths[start:start + batch_size]
            batch = model.data_preprocessor(default_collate([pipeline(dict(img_path=p)) for p in chunk]), False)
            codes += [binarize(s.hash_feature.cpu()) for s in model.predict(batch['inputs'], batch['data_samples'])]
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        print()
    return torch.stack(codes)


def draw_ranking(query: str, results: List[Tuple[str, float]], out: str, bits: int) -> None:
    """A picture of the query and its nearest images, each titled with its rank, distance and file name."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(query, 'query')] + [(p, f'#{i + 1}  d={d:g}') for i, (p, d) in enumerate(results)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6))
    for ax, (path, title) in zip(axes, panels):
        ax.imshow(mmcv.imread(path, channel_order='rgb'))
        ax.set_title(title + '\n' + osp.basename(path), fontsize=7)
        ax.axis('off')
    fig.suptitle(f'Hamming ranking, {bits}-bit codes', fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def search_folder(config: str, checkpoint: str, query: str, folder: Optional[str] = None,
                  load_index: Optional[str] = None, save_index: Optional[str] = None, topk: int = 8,
                  out: str = 'nearest.png', batch_size: int = 32, device: str = 'cpu',
                  cfg_options: Optional[dict] = None, force: bool = False) -> List[Tuple[str, float]]:
    """The ``topk`` images nearest to ``query`` in Hamming distance, from the images under ``folder`` (encoded
    now, and saved to ``save_index`` if given) or from an index written earlier (``load_index``); prints the
    ranking, draws it to ``out`` and returns ``(path, distance)`` pairs. A query that is itself in the index
    ranks first among the images at its distance (0), the others keep index order."""
    if not osp.isfile(query):
        raise FileNotFoundError(f'query image {query} does not exist')
    if bool(folder) == bool(load_index):
        raise ValueError('give exactly one of --folder and --load-index')
    refuse_overwrite(out, force)
    refuse_overwrite(save_index, force)
    cfg = load_config(config, cfg_options)
    if load_index:
        paths, codes, saved_fingerprint = read_index(load_index)
    else:
        require_dir(folder, 'image folder')
        paths = list_images(folder, IMAGE_EXTENSIONS)
        if not paths:
            raise ValueError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) under {folder}')
    model = build_model(cfg, checkpoint, device)
    fingerprint = model_fingerprint(cfg, model)
    if load_index:
        require_same_model(load_index, saved_fingerprint, fingerprint)
    else:
        print(f'indexing {len(paths)} images under {folder}')
        codes = encode(model, cfg, paths, batch_size, progress=True)
        if save_index:
            write_index(save_index, paths, codes, fingerprint)
    query_code = encode(model, cfg, [query], 1)
    if query_code.size(1) != codes.size(1):
        raise ValueError(f'the index holds {codes.size(1)}-bit codes but the model gives {query_code.size(1)}')
    distance = hamming_distance(query_code, codes)[0]
    # the query itself, when indexed, comes first among its ties (then index order)
    is_query = torch.tensor([osp.realpath(p) == osp.realpath(query) for p in paths])
    by_query = torch.sort((~is_query).to(torch.uint8), stable=True).indices
    order = by_query[torch.sort(distance[by_query], stable=True).indices][:topk]
    results = [(paths[i], float(distance[i])) for i in order]
    for rank, (path, d) in enumerate(results, 1):
        print(f'{rank:3d}  hamming={d:g}  {path}')
    draw_ranking(query, results, out, codes.size(1))
    print(f'wrote {out}')
    return results
