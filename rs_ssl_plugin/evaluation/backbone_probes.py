"""Frozen-backbone evaluation: weighted kNN and a linear probe on pooled features (scene classification), and a
1x1 (per-pixel linear) probe on frozen multi-scale features (segmentation), with result tables, JSON and CSV.

The numbers say what a pre-training run learned without fine-tuning: the features stay fixed, only a kNN vote
or a linear classifier reads them (``tools/eval_backbone.py``, the demo, ``bench/real_data_probe.py`` and the
online kNN of :class:`~rs_ssl_plugin.engine.ssl_monitor.SSLMonitorHook`).
"""
import csv
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.checks import read_image_file, read_rgb_image
from ..datasets.transforms.loading import remap_labels
from .confusion import confusion_matrix
from .features import (
    FeatureCache,
    FrozenBackbone,
    extract_pooled_features,
    files_signature,
    multi_scale_map,
    progress_callback,
)
from .seg_metrics import PER_CLASS, format_table, metrics_from_confusion

Sample = Tuple[str, int]
WEIGHT_DECAYS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
# feature values the segmentation probe keeps for training (pixels x channels): 400 MB in float32
TRAIN_VALUE_BUDGET = 100_000_000


def knn_classify(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 num_classes: int, k: int = 20, temperature: float = 0.07, chunk_size: int = 1024) -> torch.Tensor:
    """Weighted kNN labels of ``test_features`` as in DINO's evaluation.

    With ``L2``-normalised features, each test sample takes its ``k`` most cosine-similar training samples
    ``j`` and votes ``sum_j exp(cos_j / T) [y_j = c]`` for every class ``c``; the prediction is the class with
    the largest vote (``k`` is capped at the training-set size).
    """
    train = F.normalize(train_features.float(), dim=1)
    test = F.normalize(test_features.float(), dim=1)
    k = min(k, train.size(0))
    predictions = []
    for start in range(0, test.size(0), chunk_size):
        similarity, index = (test[start:start + chunk_size] @ train.t()).topk(k, dim=1)
        votes = torch.zeros(similarity.size(0), num_classes)
        votes.scatter_add_(1, train_labels[index], (similarity / temperature).exp())
        predictions.append(votes.argmax(dim=1))
    return torch.cat(predictions)


class LinearProbe(NamedTuple):
    """A linear classifier on standardised features: ``logits = ((x - mean) / std) @ weight + bias``."""
    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    weight_decay: float

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """``(..., K)`` logits of ``(..., C)`` features."""
        return ((features.float() - self.mean) / self.std) @ self.weight + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The most likely class of each row of ``features``."""
        return self.logits(features).argmax(dim=-1)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float = 1e-4,
                     max_iter: int = 100) -> LinearProbe:
    """Multinomial logistic regression on standardised features (per-feature mean and std of ``features``):
    minimises ``mean_i CE(W x_i + b, y_i) + weight_decay / 2 * ||W||^2`` with full-batch L-BFGS from zero, so
    the result is deterministic."""
    x = features.float()
    mean, std = x.mean(dim=0), x.std(dim=0).clamp(min=1e-6)
    x = (x - mean) / std
    weight = torch.zeros(x.size(1), num_classes, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, history_size=20,
                                  line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, labels) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return LinearProbe(mean, std, weight.detach(), bias.detach(), weight_decay)


def stratified_holdout(labels: torch.Tensor, ratio: float, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(fit, held_out)`` index tensors: ``ratio`` of each class (at least one where it has two) held out."""
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for c in torch.unique(labels).tolist():
        index = torch.nonzero(labels == c).flatten().numpy()
        index = index[rng.permutation(len(index))]
        cut = min(max(int(round(len(index) * ratio)), 1), len(index) - 1) if len(index) > 1 else 0
        held += index[:cut].tolist()
        fit += index[cut:].tolist()
    return torch.tensor(sorted(fit)), torch.tensor(sorted(held))


def select_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                        weight_decays: Sequence[float] = WEIGHT_DECAYS, seed: int = 0,
                        holdout: float = 0.2) -> LinearProbe:
    """:func:`fit_linear_probe` with the weight decay of ``weight_decays`` that scores best on a seeded,
    stratified ``holdout`` of the training features (ties: the stronger decay), refitted on all of them."""
    if len(weight_decays) == 1:
        return fit_linear_probe(features, labels, num_classes, weight_decays[0])
    fit, held = stratified_holdout(labels, holdout, seed)
    best = None
    for decay in sorted(weight_decays, reverse=True):
        probe = fit_linear_probe(features[fit], labels[fit], num_classes, decay)
        accuracy = float((probe.predict(features[held]) == labels[held]).float().mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, decay)
    return fit_linear_probe(features, labels, num_classes, best[1])


def classification_scores(predictions: torch.Tensor, labels: torch.Tensor, classes: Sequence[str]) -> dict:
    """``metrics`` (``top1`` and ``mean_class_accuracy``, percent) and ``per_class`` (``accuracy`` percent,
    ``support``: test samples) of class predictions."""
    correct = predictions == labels
    per_class = OrderedDict()
    for c, name in enumerate(classes):
        members = labels == c
        support = int(members.sum())
        per_class[name] = dict(accuracy=100 * float(correct[members].float().mean()) if support else float('nan'),
                               support=support)
    accuracies = [v['accuracy'] for v in per_class.values() if v['support']]
    return dict(metrics=OrderedDict(top1=100 * float(correct.float().mean()),
                                    mean_class_accuracy=float(np.mean(accuracies))),
                per_class=per_class)


def classification_features(backbone: FrozenBackbone, train: Sequence[Sample], test: Sequence[Sample],
                            img_size: int = 224, batch_size: int = 64, cache: Optional[FeatureCache] = None,
                            progress: bool = True):
    """Pooled features and labels of both splits: ``(train_x, train_y, test_x, test_y)``."""
    tensors = []
    for samples in (train, test):
        features = extract_pooled_features(backbone, [p for p, _ in samples], img_size, batch_size, cache, progress)
        tensors += [features, torch.tensor([label for _, label in samples])]
    return tuple(tensors)


def knn_scores(features: tuple, classes: Sequence[str], k: int = 20, temperature: float = 0.07) -> dict:
    """:func:`classification_scores` of :func:`knn_classify` on ``classification_features`` output."""
    train_x, train_y, test_x, test_y = features
    return classification_scores(knn_classify(train_x, train_y, test_x, len(classes), k, temperature), test_y,
                                 classes)


def linear_scores(features: tuple, classes: Sequence[str], weight_decays: Sequence[float] = WEIGHT_DECAYS,
                  seed: int = 0) -> dict:
    """:func:`classification_scores` of :func:`select_linear_probe`, plus the chosen ``weight_decay``."""
    train_x, train_y, test_x, test_y = features
    probe = select_linear_probe(train_x, train_y, len(classes), weight_decays, seed)
    scores = classification_scores(probe.predict(test_x), test_y, classes)
    scores['metrics']['weight_decay'] = probe.weight_decay
    return scores


class SegSample(NamedTuple):
    """One labelled image of a segmentation set, with mmseg's label conventions."""
    img_path: str
    seg_map_path: str
    reduce_zero_label: bool = False
    label_map: Optional[dict] = None


class SegProbeData(NamedTuple):
    """Training and test images of a segmentation set and its classes (``ignore_index`` is not a class)."""
    classes: Tuple[str, ...]
    train: List[SegSample]
    test: List[SegSample]
    ignore_index: int = 255


def read_label(sample: SegSample) -> np.ndarray:
    """The label map of ``sample`` as class indices (``reduce_zero_label``, then ``label_map``)."""
    label = read_image_file(sample.seg_map_path, 'label file')
    if label.ndim == 3 and label.shape[2] == 1:
        label = label[..., 0]
    if label.ndim != 2:
        raise ValueError(f'label map {sample.seg_map_path} has shape {label.shape}; expected a single-channel '
                         'index map')
    return remap_labels(label.astype(np.uint8), sample.reduce_zero_label, sample.label_map)


def probe_grid(height: int, width: int, stride: int) -> Tuple[int, int]:
    """The probe's feature grid for an image: one cell per ``stride`` pixels (rounded up)."""
    return -(-height // stride), -(-width // stride)


def read_probe_sample(sample: SegSample) -> Tuple[np.ndarray, np.ndarray]:
    """The RGB image and label map of one sample; raises naming the files when their sizes differ."""
    image = read_rgb_image(sample.img_path)
    label = read_label(sample)
    if label.shape != image.shape[:2]:
        raise ValueError(f'label map {sample.seg_map_path} is {label.shape[1]}x{label.shape[0]} but its image '
                         f'{sample.img_path} is {image.shape[1]}x{image.shape[0]}')
    return image, label


def iter_probe_maps(backbone: FrozenBackbone, samples: Sequence[SegSample], stride: int,
                    batch_size: int = 8) -> Iterator[Tuple[int, torch.Tensor, np.ndarray]]:
    """``(index, multi-scale map (C, h, w), label map)`` of every sample, in order: images at their own size,
    consecutive ones of the same size run through the backbone together (up to ``batch_size``), their maps
    on the ``stride`` grid (:func:`probe_grid`, :func:`multi_scale_map`)."""
    batch = []

    def run():
        height, width = batch[0][2].shape
        images = torch.stack([backbone.preprocessing(image) for _, image, _ in batch])
        maps = multi_scale_map(backbone(images), probe_grid(height, width, stride))
        for (index, _, label), feature_map in zip(batch, maps):
            yield index, feature_map, label

    for index, sample in enumerate(samples):
        image, label = read_probe_sample(sample)
        if batch and (len(batch) == batch_size or label.shape != batch[0][2].shape):
            yield from run()
            batch = []
        batch.append((index, image, label))
    if batch:
        yield from run()


def sample_training_pixels(backbone: FrozenBackbone, data: SegProbeData, stride: int = 8,
                           max_pixels: Optional[int] = None, seed: int = 0, cache: Optional[FeatureCache] = None,
                           progress: bool = True, batch_size: int = 8) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(features (P, C) float16, labels (P,))``: multi-scale features (:func:`multi_scale_map` on the
    ``stride`` grid) of labelled grid cells of the training images, with labels sampled nearest on the grid.

    Every image gives at most ``max_pixels / images`` cells, drawn uniformly (seeded per image);
    ``max_pixels`` defaults to what fits :data:`TRAIN_VALUE_BUDGET` feature values. Cached.
    """
    files = [p for s in data.train for p in (s.img_path, s.seg_map_path)]
    cache = cache or FeatureCache(None)
    cache_path = cache.path('seg_pixels', backbone=backbone.fingerprint, files=files_signature(files), stride=stride,
                            pixels=max_pixels, seed=seed, ignore=data.ignore_index,
                            labels=[(s.reduce_zero_label, s.label_map) for s in data.train])
    cached = cache.load(cache_path)
    if cached is not None:
        return cached['features'], cached['labels']
    update = progress_callback(len(data.train), progress)
    features, labels = [], []
    for index, feature_map, label in iter_probe_maps(backbone, data.train, stride, batch_size):
        grid = feature_map.shape[-2:]
        feats = feature_map.flatten(1).t()
        budget = max_pixels or TRAIN_VALUE_BUDGET // feats.size(1)
        per_image = max(1, budget // len(data.train))
        cells = F.interpolate(torch.from_numpy(label)[None, None].float(), size=grid, mode='nearest').long().flatten()
        valid = torch.nonzero((cells != data.ignore_index) & (cells < len(data.classes))).flatten()
        order = torch.randperm(len(valid), generator=torch.Generator().manual_seed(seed + index))
        chosen = valid[order[:per_image]].to(feats.device)
        features.append(feats[chosen].half().cpu())
        labels.append(cells[chosen.cpu()])
        update()
    if progress:
        print()
    features, labels = torch.cat(features), torch.cat(labels)
    if not len(labels):
        raise ValueError('the training images of the segmentation probe hold no labelled pixel')
    cache.save(cache_path, dict(features=features, labels=labels))
    return features, labels


def seg_probe_scores(backbone: FrozenBackbone, data: SegProbeData, stride: int = 8,
                     max_pixels: Optional[int] = None, weight_decay: float = 1e-4, seed: int = 0,
                     cache: Optional[FeatureCache] = None, progress: bool = True, batch_size: int = 8) -> dict:
    """Train a 1x1 linear classifier on frozen multi-scale features of the training images
    (:func:`sample_training_pixels`, :func:`fit_linear_probe`) and score it on the test images: logits on the
    ``stride`` grid, upsampled bilinearly to the label size, one confusion matrix over the test set.

    Returns ``metrics`` (``mIoU``, ``mF1``, ``aAcc``, percent), ``per_class`` (IoU, F1, Precision, Recall) and
    the ``table`` text of :func:`~rs_ssl_plugin.evaluation.seg_metrics.format_table`.
    """
    features, labels = sample_training_pixels(backbone, data, stride, max_pixels, seed, cache, progress, batch_size)
    probe = fit_linear_probe(features, labels, len(data.classes), weight_decay)
    matrix = torch.zeros(len(data.classes), len(data.classes), dtype=torch.long)
    update = progress_callback(len(data.test), progress)
    for _, feature_map, label in iter_probe_maps(backbone, data.test, stride, batch_size):
        logits = probe.logits(feature_map.cpu().permute(1, 2, 0)).permute(2, 0, 1)[None]
        pred = F.interpolate(logits, size=label.shape, mode='bilinear', align_corners=False).argmax(dim=1)[0]
        matrix += confusion_matrix(torch.from_numpy(label.astype(np.int64)), pred, len(data.classes),
                                   ignore_index=data.ignore_index)
        update()
    if progress:
        print()
    scores = metrics_from_confusion(matrix.numpy())
    per_class = OrderedDict((name, {k: 100 * float(scores[k][i]) for k in PER_CLASS})
                            for i, name in enumerate(data.classes))
    metrics = OrderedDict(mIoU=100 * float(np.nanmean(scores['IoU'])), mF1=100 * float(np.nanmean(scores['F1'])),
                          aAcc=100 * float(scores['OA']), train_pixels=len(labels))
    return dict(metrics=metrics, per_class=per_class, table=format_table(data.classes, scores))


def seg_probe_data_from_config(cfg, data_root: Optional[str] = None) -> SegProbeData:
    """The training set (``train_dataloader.dataset``) and test set (``val_dataloader.dataset``) of a
    segmentation config, with its classes, ``reduce_zero_label`` and ``label_map``; ``data_root`` replaces both
    datasets' root. The config's pipelines are not used (the probe reads images at their own size)."""
    from mmengine.dataset import RepeatDataset
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    splits = []
    for key in ('train_dataloader', 'val_dataloader'):
        if not isinstance(cfg.get(key), dict) or 'dataset' not in cfg[key]:
            raise ValueError(f'the segmentation probe needs {key}.dataset in its data config')
        node = cfg[key]['dataset'].copy()
        node['pipeline'] = []
        if data_root is not None:
            node['data_root'] = data_root
        dataset = DATASETS.build(node)
        while isinstance(dataset, RepeatDataset):
            dataset = dataset.dataset
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        missing = [info['img_path'] for info in infos if not info.get('seg_map_path')]
        if missing:
            raise ValueError(f'{key}.dataset has images without label maps, e.g. {missing[0]}')
        splits.append(([SegSample(i['img_path'], i['seg_map_path'], bool(i.get('reduce_zero_label')),
                                  i.get('label_map') or None) for i in infos], dataset.metainfo['classes']))
    (train, classes), (test, test_classes) = splits
    if tuple(classes) != tuple(test_classes):
        raise ValueError(f'train and val datasets have different classes: {classes} and {test_classes}')
    return SegProbeData(tuple(classes), train, test)


def summary_table(task: str, results: Sequence[dict]) -> str:
    """One row per evaluated backbone with its main metrics."""
    keys = [k for k in results[0]['metrics'] if k not in ('train_pixels', )]
    width = max(len('backbone'), *(len(r['label']) for r in results))
    lines = [f'{task} results', f'{"backbone":<{width}} ' + ' '.join(f'{k:>20}' for k in keys)]
    for result in results:
        lines.append(f'{result["label"]:<{width}} ' + ' '.join(
            f'{result["metrics"][k]:>20.4g}' if k == 'weight_decay' else f'{result["metrics"][k]:>20.2f}'
            for k in keys))
    return '\n'.join(lines)


def per_class_table(result: dict) -> str:
    """The per-class scores of one result (segmentation: IoU/F1/Precision/Recall; classification: accuracy)."""
    if 'table' in result:
        return result['table']
    width = max(len('class'), *(len(c) for c in result['per_class']))
    lines = [f'{"class":<{width}} {"accuracy":>9} {"support":>8}']
    for name, row in result['per_class'].items():
        lines.append(f'{name:<{width}} {row["accuracy"]:9.2f} {row["support"]:8d}')
    return '\n'.join(lines)


def result_paths(json_path: str, force: bool = False) -> Tuple[str, str]:
    """``(json_path, csv_path)`` of a results file; raises ``FileExistsError`` if either exists, unless
    ``force``."""
    csv_path = osp.splitext(json_path)[0] + '.csv'
    existing = [p for p in (json_path, csv_path) if osp.exists(p)]
    if existing and not force:
        raise FileExistsError(f'{existing[0]} already exists; not overwritten (choose another --work-dir or pass '
                              '--force)')
    return json_path, csv_path


def save_results(report: dict, json_path: str, force: bool = False) -> Tuple[str, str]:
    """Write ``report`` (``task``, ``settings``, ``results``: one entry per backbone with ``metrics`` and
    ``per_class``) to ``json_path`` and its per-class rows to the ``.csv`` beside it. Existing files are kept
    unless ``force`` (:func:`result_paths`). Returns both paths."""
    json_path, csv_path = result_paths(json_path, force)
    os.makedirs(osp.dirname(osp.abspath(json_path)), exist_ok=True)
    serialisable = dict(report, results=[{k: v for k, v in r.items() if k != 'table'} for r in report['results']])
    with open(json_path, 'w') as f:
        json.dump(serialisable, f, indent=2, allow_nan=True)
    columns: Dict[str, None] = OrderedDict()
    for result in report['results']:
        for row in result['per_class'].values():
            columns.update((k, None) for k in row)
    with open(csv_path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['backbone', 'checkpoint', 'class', *columns])
        for result in report['results']:
            for name, row in result['per_class'].items():
                writer.writerow([result['label'], result['checkpoint'], name, *(row.get(k, '') for k in columns)])
    return json_path, csv_path
