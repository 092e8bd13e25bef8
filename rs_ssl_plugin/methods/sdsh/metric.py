"""Hash-code retrieval evaluation (SDSH protocol): Hamming ranking, mAP, mAP@K, P@N and precision-recall."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpretrain.registry import METRICS


def binarize(u: torch.Tensor) -> torch.Tensor:
    """``sign(u)`` in {-1, +1}; an exact 0 maps to +1 (the official ``sign`` would give 0)."""
    return torch.where(u >= 0, 1.0, -1.0).to(torch.float32)


def hamming_distance(query_codes: torch.Tensor, db_codes: torch.Tensor) -> torch.Tensor:
    """``d_H = (bits - q . b) / 2`` for +-1 codes, ``(Q, D)``."""
    return 0.5 * (query_codes.size(1) - query_codes.double() @ db_codes.double().t())


def hamming_ranking(query_codes: torch.Tensor, db_codes: torch.Tensor) -> torch.Tensor:
    """``(Q, D)`` database indices by increasing Hamming distance; ties keep database order (stable sort),
    so the ranking, and every metric on it, is deterministic."""
    return torch.sort(hamming_distance(query_codes, db_codes), dim=1, stable=True).indices


def relevance(query_labels: torch.Tensor, db_labels: torch.Tensor) -> torch.Tensor:
    """``(Q, D)`` bool: same class (1-D labels) or at least one shared label (multi-hot rows)."""
    if query_labels.dim() == 1:
        return query_labels[:, None] == db_labels[None, :]
    return (query_labels.double() @ db_labels.double().t()) > 0


def mean_average_precision(ranked_relevance: torch.Tensor, topk: Optional[int] = None) -> float:
    """mAP over the top ``topk`` (all if None) of each ranking (rows of ranked 0/1 relevance).

    ``AP_q = (1 / R_q) sum_{j=1..R_q} j / rank_j`` with ``R_q`` the relevant items within the top ``k`` and
    ``rank_j`` (1-based) the position of the j-th of them; queries with ``R_q = 0`` count as 0 in the mean.
    """
    rel = ranked_relevance[:, :topk].double()
    hits = rel.cumsum(dim=1)
    ranks = torch.arange(1, rel.size(1) + 1, dtype=torch.float64)
    num_relevant = rel.sum(dim=1)
    ap = (hits / ranks * rel).sum(dim=1) / num_relevant.clamp(min=1)
    return float(ap.mean())


def precision_at(ranked_relevance: torch.Tensor, n: int) -> float:
    """Mean over queries of the share of relevant items among the first ``n`` retrieved."""
    return float(ranked_relevance[:, :n].double().sum(dim=1).mean() / n)


def precision_recall_curve(ranked_relevance: torch.Tensor, cutoffs: Sequence[int]) -> Dict[str, List[float]]:
    """Mean precision and recall after ``k`` retrieved items for each ``k`` in ``cutoffs`` (official
    ``pr_curve``); queries without any relevant item contribute 0 to both."""
    rel = ranked_relevance.double()
    total = rel.sum(dim=1)
    hits = rel.cumsum(dim=1)
    precision, recall = [], []
    for k in cutoffs:
        found = hits[:, k - 1]
        precision.append(float(torch.where(total > 0, found / k, 0.).mean()))
        recall.append(float((found / total.clamp(min=1)).mean()))
    return dict(cutoffs=list(cutoffs), precision=precision, recall=recall)


def default_cutoffs(num_db: int, step: int = 500, min_points: int = 100) -> List[int]:
    """1, then every ``step`` items up to the database size (the official ``draw_range`` pattern), the step
    shrunk so that the curve has at least about ``min_points`` points: every cutoff for a database of fewer
    than ``2 * min_points`` items (the official 500 would give 2 points for 128 images)."""
    step = max(1, min(step, num_db // min_points))
    return sorted(set([1] + list(range(step, num_db + 1, step)) + [num_db]))


def save_pr_curve(curve: Dict[str, List[float]], path: str, title: str = '', mean_ap: Optional[float] = None) -> None:
    """Write the curve as ``<path>.json`` and a precision-recall plot at ``path`` (png/pdf/svg); ``mean_ap``
    (the mAP over the whole database) labels the curve in the legend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    with open(osp.splitext(path)[0] + '.json', 'w') as f:
        json.dump(curve, f, indent=1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(curve['recall'], curve['precision'], marker='.', label=None if mean_ap is None else f'mAP {mean_ap:.4f}')
    if mean_ap is not None:
        ax.legend(loc='lower left')
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@METRICS.register_module()
class RetrievalMetric(BaseMetric):
    """Hash retrieval metrics over a database + query dataset (e.g. ``RetrievalImageFolder(split='all')``).

    Each prediction needs ``hash_feature`` (continuous code ``u``; the metric takes ``sign``), ``gt_label``,
    ``is_query`` and ``sample_idx``. Results of all ranks are gathered and evaluated in one process; samples
    are de-duplicated and ordered by ``sample_idx``, so the database order (which breaks Hamming ties) and
    the results do not depend on the number of processes or on sampler padding.

    Reported (prefix ``retrieval``): ``mAP`` (over the whole database, the official number), ``mAP@K`` for
    each K of ``map_topk``, ``P@N`` for each N of ``precision_at``. With ``pr_curve_file`` the
    precision-recall curve at ``pr_cutoffs`` (default: :func:`default_cutoffs`) is saved as a plot and JSON.

    Args:
        map_topk (Sequence[int]): Each K reports ``mAP@K``, the mean average precision over the top K of
            the Hamming ranking. Defaults to (100, ).
        precision_at (Sequence[int]): Each N reports ``P@N``, the share of relevant items in the top N.
            Defaults to (10, 50, 100).
        pr_cutoffs (Sequence[int], optional): Ranking depths at which the precision-recall curve is sampled
            (clipped to the database size); ``None``: :func:`default_cutoffs`. Defaults to None.
        pr_curve_file (str, optional): Path of the precision-recall plot (``.png``/``.pdf``/``.svg``; the
            numbers go to the same name with ``.json``); ``None`` saves no curve. Defaults to None.
        collect_device (str): Device used to collect the results of all ranks, ``'cpu'`` or ``'gpu'``.
            Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names; ``None`` uses ``'retrieval'``. Defaults to None.
    """
    default_prefix = 'retrieval'

    def __init__(self, map_topk: Sequence[int] = (100, ), precision_at: Sequence[int] = (10, 50, 100),
                 pr_cutoffs: Optional[Sequence[int]] = None, pr_curve_file: Optional[str] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.map_topk = tuple(map_topk)
        self.precision_at = tuple(precision_at)
        self.pr_cutoffs = pr_cutoffs
        self.pr_curve_file = pr_curve_file

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store each sample's binary code, label, query flag and ``sample_idx``."""
        for sample in data_samples:
            for key in ('hash_feature', 'gt_label', 'is_query', 'sample_idx'):
                if key not in sample:
                    raise KeyError(f'RetrievalMetric needs {key!r} in every prediction (got {sorted(sample)}); '
                                   "pack datasets with PackInputs(algorithm_keys=('is_query',))")
            self.results.append(dict(code=binarize(sample['hash_feature'].detach().cpu().flatten()),
                                     label=torch.as_tensor(sample['gt_label']).cpu().flatten(),
                                     is_query=bool(sample['is_query']), index=int(sample['sample_idx'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """``mAP``, ``mAP@K`` and ``P@N`` of the queries against the database (and the PR curve file if set)."""
        unique = {}
        for item in results:
            unique.setdefault(item['index'], item)
        items = [unique[i] for i in sorted(unique)]
        db = [r for r in items if not r['is_query']]
        queries = [r for r in items if r['is_query']]
        if not db or not queries:
            raise ValueError(f'retrieval needs database and query samples, got {len(db)} and {len(queries)}')
        db_codes, q_codes = torch.stack([r['code'] for r in db]), torch.stack([r['code'] for r in queries])
        db_labels, q_labels = (torch.stack([r['label'] for r in group]).squeeze(1) for group in (db, queries))
        ranked = torch.gather(relevance(q_labels, db_labels), 1, hamming_ranking(q_codes, db_codes))
        metrics = dict(mAP=mean_average_precision(ranked))
        metrics.update({f'mAP@{k}': mean_average_precision(ranked, k) for k in self.map_topk})
        metrics.update({f'P@{n}': precision_at(ranked, n) for n in self.precision_at})
        if self.pr_curve_file:
            cutoffs = self.pr_cutoffs or default_cutoffs(len(db))
            save_pr_curve(precision_recall_curve(ranked, [min(k, len(db)) for k in cutoffs]), self.pr_curve_file,
                          f'{db_codes.size(1)} bits, {len(queries)} queries, mAP {metrics["mAP"]:.4f}',
                          mean_ap=metrics['mAP'])
            MMLogger.get_current_instance().info(f'precision-recall curve saved to {self.pr_curve_file}')
        return metrics
