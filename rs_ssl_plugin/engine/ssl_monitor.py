"""SSLMonitorHook: collapse statistics of a self-supervised model's embeddings during training, and an optional
online kNN accuracy on a small labelled folder."""
import math
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch import nn

from ..datasets.class_folders import list_class_folder, seeded_split
from ..evaluation.backbone_probes import classification_features, knn_scores
from ..evaluation.features import FrozenBackbone, Preprocessing


def embedding_statistics(embeddings: torch.Tensor) -> Dict[str, float]:
    """Collapse statistics of a batch of ``(N, d)`` embeddings (``N >= 2``), computed on the L2-normalised rows
    ``z`` in float64:

    - ``std_ratio``: the per-dimension standard deviation of ``z`` over the batch, averaged over the
      dimensions, times ``sqrt(d)``: about 1 for directions spread uniformly on the sphere, 0 when every
      embedding is the same (complete collapse);
    - ``mean_cosine``: the mean cosine similarity over the ``N (N - 1)`` pairs of different rows (1 when
      collapsed, about 0 for spread embeddings);
    - ``effective_rank``: ``exp(H(p))`` with ``p`` the singular values of ``z`` divided by their sum (Roy and
      Vetterli 2007; RankMe): 1 when collapsed, up to ``min(N, d)`` when every direction is used.
    """
    if embeddings.dim() != 2 or embeddings.size(0) < 2:
        raise ValueError(f'embedding statistics need (N >= 2, d) embeddings, got shape {tuple(embeddings.shape)}')
    z = F.normalize(embeddings.detach().double(), dim=1)
    num, dims = z.shape
    std_ratio = z.std(dim=0).mean() * math.sqrt(dims)
    gram = z @ z.t()
    mean_cosine = (gram.sum() - gram.diagonal().sum()) / (num * (num - 1))
    singular = torch.linalg.svdvals(z)
    p = singular / singular.sum().clamp(min=1e-12)
    entropy = -(p * torch.log(p.clamp(min=1e-30))).sum()
    return dict(std_ratio=float(std_ratio), mean_cosine=float(mean_cosine), effective_rank=float(entropy.exp()))


def collapse_reasons(stats: Dict[str, float], min_std_ratio: float, max_mean_cosine: float,
                     min_effective_rank: float) -> List[str]:
    """The statistics of :func:`embedding_statistics` that cross their collapse threshold, as sentences."""
    reasons = []
    if stats['std_ratio'] < min_std_ratio:
        reasons.append(f'std_ratio {stats["std_ratio"]:.4f} < {min_std_ratio}')
    if stats['mean_cosine'] > max_mean_cosine:
        reasons.append(f'mean_cosine {stats["mean_cosine"]:.4f} > {max_mean_cosine}')
    if stats['effective_rank'] < min_effective_rank:
        reasons.append(f'effective_rank {stats["effective_rank"]:.3f} < {min_effective_rank}')
    return reasons


def flatten_embeddings(output) -> torch.Tensor:
    """``(N, d)`` embeddings from a module output: the last element of a tuple/list, a ``(B, C, H, W)`` map
    averaged over its positions, ``(B, N, C)`` tokens averaged over the tokens, ``(N, d)`` as it is."""
    if isinstance(output, (tuple, list)):
        output = output[-1]
    if output.dim() == 4:
        return output.mean(dim=(2, 3))
    if output.dim() == 3:
        return output.mean(dim=1)
    return output


@HOOKS.register_module()
class SSLMonitorHook(Hook):
    """Watches a self-supervised run for collapse, and optionally measures its features with kNN.

    Every ``interval`` iterations the output of the algorithm's embedding module in that iteration's forward
    pass (its first call) is summarised with :func:`embedding_statistics`: ``std_ratio`` (per-dimension std
    of the L2-normalised embeddings relative to ``1/sqrt(d)``), ``mean_cosine`` (mean pairwise cosine in the
    batch) and ``effective_rank``. They are logged (``ssl_monitor/...``) and written to the visualizer
    backends (``scalars.json``, TensorBoard). The first time one crosses its threshold a warning names the
    values; training goes on.

    The embedding module is the algorithm's ``embedding_module`` attribute (FALSE: ``'neck'``, the
    projections of both views; SDCluster: ``'neck'``, the student's dense projections of the first view
    group, averaged over positions; SDSH: ``'backbone.hash_layer'``, the student's global hash vectors),
    ``'neck'`` if it has none, or ``module`` given here. Statistics are of each process's own batch.

    Args:
        interval (int): Iterations between two measurements. Defaults to 50.
        module (str, optional): Dotted name of the embedding module in the model; ``None`` takes the
            algorithm's ``embedding_module`` (see above). Defaults to None.
        min_std_ratio (float): Warn when ``std_ratio`` falls below this (random-init ResNet-18 projections of
            real images give about 0.4). Defaults to 0.05.
        max_mean_cosine (float): Warn when ``mean_cosine`` rises above this (random init: about 0.8).
            Defaults to 0.99.
        min_effective_rank (float): Warn when ``effective_rank`` falls below this (random init: about 30).
            Defaults to 1.5.
        knn (dict, optional): Online kNN: a dict with ``data_root`` (a small class-folder set,
            ``root/<class>/<img>``) and optionally ``interval`` (1), ``by_epoch`` (True: ``interval`` counts
            epochs; False: iterations), ``train_ratio`` (0.5), ``seed`` (0), ``depth`` (1, class-folder
            depth), ``img_size`` (224), ``k`` (20), ``temperature`` (0.07), ``batch_size`` (64) and
            ``backbone`` (``'backbone'``, dotted name of the module evaluated). The top-1 accuracy of
            :func:`~rs_ssl_plugin.evaluation.backbone_probes.knn_classify` on the pooled backbone features is
            logged as ``ssl_monitor/knn_top1`` (main process only). ``None`` for no kNN. Defaults to None.
    """
    priority = 'LOW'
    KNN_DEFAULTS = dict(interval=1, by_epoch=True, train_ratio=0.5, seed=0, depth=1, img_size=224, k=20,
                        temperature=0.07, batch_size=64, backbone='backbone')

    def __init__(self, interval: int = 50, module: Optional[str] = None, min_std_ratio: float = 0.05,
                 max_mean_cosine: float = 0.99, min_effective_rank: float = 1.5, knn: Optional[dict] = None):
        if interval < 1:
            raise ValueError(f'SSLMonitorHook: interval must be positive, got {interval}')
        self.interval = interval
        self.module_name = module
        self.thresholds = (min_std_ratio, max_mean_cosine, min_effective_rank)
        if knn is not None:
            unknown = set(knn) - set(self.KNN_DEFAULTS) - {'data_root'}
            if 'data_root' not in knn or unknown:
                raise ValueError(f'SSLMonitorHook: knn needs data_root and takes {sorted(self.KNN_DEFAULTS)}; got '
                                 f'{sorted(knn)}')
            knn = {**self.KNN_DEFAULTS, **knn}
        self.knn = knn
        self.warned = False
        self._handle = None
        self._armed = False
        self._captured = None
        self._knn_samples = None
        self._knn_preprocessing = None

    @staticmethod
    def _model(runner) -> nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        """Hook the embedding module; check the kNN folder before the first iteration."""
        model = self._model(runner)
        name = self.module_name or getattr(model, 'embedding_module', 'neck')
        try:
            module = model.get_submodule(name)
        except AttributeError as error:
            raise ValueError(f'SSLMonitorHook: {type(model).__name__} has no module {name!r}; set '
                             'SSLMonitorHook(module=...) to the module whose output is the embedding') from error
        self._handle = module.register_forward_hook(self._capture)
        if self.knn is not None:  # fail now, not after the first epoch, on a bad folder or band count
            classes, files = list_class_folder(self.knn['data_root'], depth=self.knn['depth'])
            self._knn_samples = (classes, *seeded_split(files, self.knn['train_ratio'], self.knn['seed']))
            self._knn_preprocessing = Preprocessing.from_module(model.data_preprocessor)
            model.get_submodule(self.knn['backbone'])

    def _capture(self, module, inputs, output) -> None:
        if self._armed and self._captured is None:
            self._captured = flatten_embeddings(output).detach()

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Arm the capture on measuring iterations."""
        self._armed = self.every_n_train_iters(runner, self.interval)
        self._captured = None

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Log the statistics of the captured embeddings, warn once on collapse; online kNN when due
        (``by_epoch=False``)."""
        captured, self._captured, self._armed = self._captured, None, False
        if captured is not None and captured.size(0) >= 2:
            self._check(runner, captured)
        if self.knn is not None and not self.knn['by_epoch'] and self.every_n_train_iters(runner,
                                                                                          self.knn['interval']):
            self._online_knn(runner)

    def _check(self, runner, captured: torch.Tensor) -> None:
        stats = embedding_statistics(captured)
        self._log(runner, stats)
        reasons = collapse_reasons(stats, *self.thresholds)
        if reasons and not self.warned:
            self.warned = True
            runner.logger.warning(
                f'SSLMonitorHook: the embeddings look collapsed at iteration {runner.iter + 1}: {"; ".join(reasons)} '
                f'(std_ratio {stats["std_ratio"]:.4f}, mean_cosine {stats["mean_cosine"]:.4f}, effective_rank '
                f'{stats["effective_rank"]:.3f} of at most {min(captured.shape)}). A collapsed model maps every image '
                'to (almost) the same embedding; check the learning rate, the augmentations and the loss '
                '(this warning is shown once)')

    def _log(self, runner, values: Dict[str, float]) -> None:
        step = runner.iter + 1
        scalars = {f'ssl_monitor/{k}': v for k, v in values.items()}
        runner.visualizer.add_scalars(scalars, step=step)
        runner.logger.info(f'SSLMonitorHook iteration {step}: ' + ', '.join(f'{k} {v:.4f}' for k, v in values.items()))

    def after_train_epoch(self, runner) -> None:
        """Online kNN every ``knn.interval`` epochs (``by_epoch=True``)."""
        if self.knn is not None and self.knn['by_epoch'] and self.every_n_epochs(runner, self.knn['interval']):
            self._online_knn(runner)

    def _online_knn(self, runner) -> None:
        if not is_main_process():
            return
        model = self._model(runner)
        module = model.get_submodule(self.knn['backbone'])
        was_training = module.training
        classes, train, test = self._knn_samples
        backbone = FrozenBackbone(module, self._knn_preprocessing, 'online', 'training')
        try:
            features = classification_features(backbone, train, test, self.knn['img_size'], self.knn['batch_size'],
                                               progress=False)
        finally:
            module.train(was_training)
        scores = knn_scores(features, classes, self.knn['k'], self.knn['temperature'])
        self._log(runner, dict(knn_top1=scores['metrics']['top1']))

    def after_train(self, runner) -> None:
        """Remove the forward hook."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
