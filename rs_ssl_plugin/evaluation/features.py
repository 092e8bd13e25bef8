"""Frozen backbones for evaluation: built from any config the plugin reads, weights loaded strictly, images
normalised as the config's data preprocessor does, pooled or dense features extracted in batches and cached
on disk under a key of everything they depend on."""
import contextlib
import hashlib
import itertools
import json
import logging
import os
import os.path as osp
import pickle
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, init_default_scope
from mmengine.utils import ProgressBar
from torch import nn

from ..checkpoints.export import LoadReport, extract_backbone_state_dict, load_report
from ..checkpoints.reading import UnsafeCheckpointError, read_state_dict, refused_global
from ..datasets.checks import read_rgb_image

IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)
RANDOM_INIT = ('random', 'none')


class Preprocessing:
    """What a model's data preprocessor does to an image, for ``(H, W, 3)`` uint8 RGB arrays.

    Args:
        mean, std: per-channel values in the order the model sees the channels.
        rgb: the model sees RGB (the config flips mmcv's BGR loading: ``to_rgb``/``bgr_to_rgb``); else BGR.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN_RGB, std: Sequence[float] = IMAGENET_STD_RGB,
                 rgb: bool = True):
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'frozen-backbone evaluation reads RGB images; the model normalises {len(mean)} bands '
                             '(multi-band backbones are not supported here)')
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.rgb = bool(rgb)

    @classmethod
    def from_config(cls, preprocessor: Optional[dict]) -> 'Preprocessing':
        """From a ``data_preprocessor`` config (mmengine/mmpretrain/mmseg keys); ImageNet RGB when ``None``."""
        if not preprocessor or 'mean' not in preprocessor:
            return cls()
        flip = any(preprocessor.get(key, False) for key in ('to_rgb', 'bgr_to_rgb', 'rgb_to_bgr'))
        return cls(preprocessor['mean'], preprocessor['std'], rgb=flip)

    @classmethod
    def from_module(cls, preprocessor: nn.Module) -> 'Preprocessing':
        """From a built data preprocessor (its ``mean``/``std`` buffers and channel flag)."""
        flip = getattr(preprocessor, '_channel_conversion', getattr(preprocessor, 'channel_conversion', False))
        if getattr(preprocessor, 'mean', None) is None:
            return cls()
        return cls(preprocessor.mean.flatten().tolist(), preprocessor.std.flatten().tolist(), rgb=flip)

    def __call__(self, rgb_image: np.ndarray) -> torch.Tensor:
        """``(3, H, W)`` float32, normalised, in the model's channel order."""
        image = rgb_image if self.rgb else rgb_image[..., ::-1]
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (tensor - mean) / std

    def describe(self) -> dict:
        """The settings, for cache keys and reports."""
        return dict(mean=self.mean, std=self.std, rgb=self.rgb)


class FrozenBackbone:
    """A backbone run in eval mode without gradients, its input preprocessing, and where its weights came from.

    ``fingerprint`` hashes the backbone config, the preprocessing and every weight tensor, so features cached
    under it are never reused for other weights or settings.
    """

    def __init__(self, module: nn.Module, preprocessing: Preprocessing, label: str, weights: str,
                 config: Optional[dict] = None):
        module.eval()
        self.module = module
        self.preprocessing = preprocessing
        self.label = label
        self.weights = weights
        self.config = config
        self._fingerprint = None

    @property
    def device(self) -> torch.device:
        """Where the backbone's parameters (or buffers) are; the CPU for a module without any."""
        tensor = next(itertools.chain(self.module.parameters(), self.module.buffers()), None)
        return torch.device('cpu') if tensor is None else tensor.device

    @property
    def fingerprint(self) -> str:
        """sha1 of the backbone config, the preprocessing and the weights (computed once)."""
        if self._fingerprint is None:
            settings = dict(config=repr(self.config), preprocessing=self.preprocessing.describe())
            digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode())
            for name, tensor in self.module.state_dict().items():
                digest.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)}'.encode())
                digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @torch.no_grad()
    def feature_maps(self, images: torch.Tensor) -> List[torch.Tensor]:
        """The ``(B, C, h, w)`` feature maps of a batch: the module's ``forward_feature_map`` where it has one
        (a backbone whose output is pooled, as SDSH's hash code), else the maps among its outputs."""
        dense = getattr(self.module, 'forward_feature_map', None)
        if dense is not None:
            return [dense(images.to(self.device))]
        return feature_maps(self(images))

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple:
        """The backbone's outputs (a tuple) for a batch of preprocessed images."""
        outputs = self.module(images.to(self.device))
        return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs, )


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """The config at ``path`` with ``cfg_options`` (mmengine ``DictAction`` values) merged in; ``path`` is a file
    or, as in ``_base_``, ``<package>::<path>`` inside an installed package (``mmseg::_base_/datasets/loveda.py``).
    """
    if '::' in path:  # Config.fromfile reads files only; this is how mmengine resolves ``_base_`` entries
        path, _ = Config._get_cfg_path(path, '')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def backbone_config(cfg: Config, path: str = 'config') -> dict:
    """The backbone of a model config (``model.backbone``: pre-training, segmentation, classification) or of a
    backbone-only config (``backbone``), without ``init_cfg``/``pretrained`` so nothing is loaded by building."""
    model = cfg.get('model')
    if isinstance(model, dict) and isinstance(model.get('backbone'), dict):
        node = model['backbone']
    elif isinstance(cfg.get('backbone'), dict):
        node = cfg['backbone']
    else:
        raise ValueError(f'{path} has neither model.backbone nor a top-level backbone')
    node = node.copy()
    node.pop('init_cfg', None)
    node.pop('pretrained', None)
    return node.to_dict() if hasattr(node, 'to_dict') else dict(node)


def preprocessor_config(cfg: Config) -> Optional[dict]:
    """``model.data_preprocessor`` or a top-level ``data_preprocessor`` (``None``: ImageNet RGB)."""
    model = cfg.get('model')
    if isinstance(model, dict) and model.get('data_preprocessor'):
        return model['data_preprocessor']
    return cfg.get('data_preprocessor')


@contextlib.contextmanager
def quiet_logger(level: int = logging.WARNING) -> Iterator[None]:
    """Silence mmengine's current logger below ``level`` (weight-init dumps of a random backbone)."""
    logger = MMLogger.get_current_instance()
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def load_backbone_weights(module: nn.Module, checkpoint: str, prefix: str = 'backbone.') -> LoadReport:
    """Load ``checkpoint`` into ``module`` strictly and return the report.

    Runner checkpoints, exported SSL backbones (``tools/export_backbone.py``) and converted official releases
    (``tools/model_converters/convert_official.py``) keep the backbone under ``prefix``; a file without any key
    under it is taken as a bare backbone state dict. Any missing, unexpected or mismatched key raises
    ``ValueError`` listing them, before anything is loaded.
    """
    state_dict = read_state_dict(checkpoint)
    if prefix and any(k.startswith(prefix) for k in state_dict):
        state_dict = extract_backbone_state_dict(state_dict, prefix, checkpoint)
    report = load_report(module, state_dict)
    if not report.complete or report.unexpected:
        raise ValueError(f'{checkpoint} does not fit the backbone exactly (strict loading; nothing was loaded):\n'
                         f'{report.format()}')
    module.load_state_dict(state_dict, strict=True)
    return report


def multi_scale_out_indices(node: dict) -> Optional[Tuple[int, ...]]:
    """``(0, 1, 2, 3)`` for a ResNet-family backbone config that does not choose its outputs (mmpretrain and
    mmseg ResNets return only the last stage by default); ``None`` (keep the config) otherwise."""
    from mmpretrain.models.backbones import ResNet as PretrainResNet
    from mmseg.models.backbones import ResNet as SegResNet
    if 'out_indices' in node:
        return None
    cls = MODELS.get(node['type']) if isinstance(node['type'], str) else node['type']
    return (0, 1, 2, 3) if cls is not None and issubclass(cls, (PretrainResNet, SegResNet)) else None


def build_frozen_backbone(config: Union[str, Config], checkpoint: Optional[str],
                          cfg_options: Optional[dict] = None, device: str = 'cpu', prefix: str = 'backbone.',
                          seed: int = 0, out_indices: Optional[Sequence[int]] = None,
                          multi_scale: bool = False) -> FrozenBackbone:
    """The backbone of ``config`` (a path, or a loaded config) with ``checkpoint`` loaded strictly
    (``None``/``'random'``: its random initialisation from ``seed``, the baseline), in eval mode on ``device``.

    ``out_indices`` replaces the config's; with ``multi_scale`` and no ``out_indices`` a ResNet returns all
    four stages (:func:`multi_scale_out_indices`).
    """
    cfg = load_config(config, cfg_options) if isinstance(config, str) else config
    node = backbone_config(cfg, config if isinstance(config, str) else 'config')
    init_default_scope(cfg.get('default_scope') or 'mmpretrain')
    if out_indices is not None:
        node['out_indices'] = tuple(out_indices)
    elif multi_scale:
        node['out_indices'] = multi_scale_out_indices(node) or node.get('out_indices')
        if node['out_indices'] is None:
            node.pop('out_indices')
    preprocessing = Preprocessing.from_config(preprocessor_config(cfg))
    torch.manual_seed(seed)
    module = MODELS.build(node)
    if checkpoint is None or checkpoint.lower() in RANDOM_INIT:
        with quiet_logger():
            module.init_weights()
        label, weights = 'random init', f'random initialisation (seed {seed})'
    else:
        report = load_backbone_weights(module, checkpoint, prefix)
        label, weights = osp.basename(checkpoint), f'{checkpoint}: {report.format().splitlines()[0]}'
    return FrozenBackbone(module.to(device), preprocessing, label, weights, node)


def pooled_features(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(B, C)`` image features from a backbone's last output: a ``(B, C, H, W)`` map averaged over its
    positions, ``(B, N, C)`` tokens averaged, or a ``(B, C)`` vector (class token, hash code) as it is."""
    last = outputs[-1]
    if last.dim() == 4:
        return last.mean(dim=(2, 3))
    if last.dim() == 3:
        return last.mean(dim=1)
    if last.dim() == 2:
        return last
    raise ValueError(f'cannot pool a backbone output of shape {tuple(last.shape)}')


def feature_maps(outputs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """The ``(B, C, h, w)`` maps among a backbone's outputs; raises if it gives none (a pooled-only backbone)."""
    maps = [o for o in outputs if o.dim() == 4]
    if not maps:
        shapes = [tuple(o.shape) for o in outputs]
        raise ValueError(f'the backbone gives no (B, C, h, w) feature map (outputs {shapes}); dense evaluation needs '
                         "one (for a ViT set out_type='featmap')")
    return maps


def multi_scale_map(outputs: Sequence[torch.Tensor], size: Tuple[int, int]) -> torch.Tensor:
    """Every feature map resized (bilinear) to ``size`` and concatenated along channels: ``(B, sum C, h, w)``."""
    return torch.cat([F.interpolate(m.float(), size=size, mode='bilinear', align_corners=False)
                      for m in feature_maps(outputs)], dim=1)


def files_signature(paths: Sequence[str]) -> str:
    """sha1 of every path with its size and modification time (a changed or replaced file changes it)."""
    digest = hashlib.sha1()
    for path in paths:
        stat = os.stat(path)
        digest.update(f'{osp.abspath(path)}:{stat.st_size}:{stat.st_mtime_ns}\n'.encode())
    return digest.hexdigest()


class FeatureCache:
    """Tensors saved under ``cache_dir`` by a key of everything they depend on (``None``: no caching).

    Files are written atomically and read with ``torch.load(weights_only=True)``, so a cache file cannot run
    code when loaded.
    """

    def __init__(self, cache_dir: Optional[str]):
        self.cache_dir = cache_dir

    def path(self, kind: str, **fields) -> Optional[str]:
        """Cache file for ``kind`` features with these key fields (JSON-serialisable)."""
        if self.cache_dir is None:
            return None
        key = hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:20]
        return osp.join(self.cache_dir, f'{kind}_{key}.pt')

    @staticmethod
    def load(path: Optional[str]) -> Optional[Dict[str, torch.Tensor]]:
        """The cached tensors at ``path``, or ``None``."""
        if path is None or not osp.isfile(path):
            return None
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as error:  # torch's message names no file and advises weights_only=False
            raise UnsafeCheckpointError(
                f'refused to load the feature cache file {path} as unsafe: it needs {refused_global(str(error))}, '
                'which a weights-only load does not allow (unpickling it could run code); the plugin writes only '
                'tensors there, so delete the file (or pass --no-cache)') from None

    @staticmethod
    def save(path: Optional[str], tensors: Dict[str, torch.Tensor]) -> None:
        """Write ``tensors`` to ``path`` (no-op without a cache)."""
        if path is None:
            return
        os.makedirs(osp.dirname(path), exist_ok=True)
        partial = f'{path}.partial'
        torch.save(tensors, partial)
        os.replace(partial, path)


def progress_callback(total: int, enabled: bool = True) -> Callable[[], None]:
    """``update()`` of an mmengine progress bar over ``total`` items, or a no-op when not ``enabled``."""
    if not enabled:
        return lambda: None
    return ProgressBar(total).update


def resized_rgb(path: str, size: Optional[int]) -> np.ndarray:
    """An image file as RGB uint8, resized to ``size`` x ``size`` (area interpolation when shrinking)."""
    image = read_rgb_image(path)
    if size is None or image.shape[:2] == (size, size):
        return image
    shrinking = image.shape[0] > size and image.shape[1] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def extract_pooled_features(backbone: FrozenBackbone, paths: Sequence[str], img_size: Optional[int] = 224,
                            batch_size: int = 64, cache: Optional[FeatureCache] = None,
                            progress: bool = True) -> torch.Tensor:
    """``(N, C)`` float32 pooled features (:func:`pooled_features`) of the images at ``paths``, each resized to
    ``img_size`` square, in batches; cached under the backbone's fingerprint, the files and the settings."""
    cache = cache or FeatureCache(None)
    cache_path = cache.path('pooled', backbone=backbone.fingerprint, files=files_signature(paths), img_size=img_size)
    cached = cache.load(cache_path)
    if cached is not None:
        return cached['features']
    update = progress_callback(len(paths), progress)
    chunks = []
    for start in range(0, len(paths), batch_size):
        batch = []
        for path in paths[start:start + batch_size]:
            batch.append(backbone.preprocessing(resized_rgb(path, img_size)))
            update()
        chunks.append(pooled_features(backbone(torch.stack(batch))).float().cpu())
    if progress:
        print()
    features = torch.cat(chunks)
    cache.save(cache_path, dict(features=features))
    return features
