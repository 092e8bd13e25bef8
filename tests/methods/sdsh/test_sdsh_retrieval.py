"""Retrieval metrics on constructed rankings with known answers (including Hamming ties)."""
import json

import pytest
import torch

from rs_ssl_plugin.methods.sdsh.metric import (
    RetrievalMetric,
    binarize,
    hamming_distance,
    hamming_ranking,
    mean_average_precision,
    precision_at,
    precision_recall_curve,
)


def test_map_known_values():
    ranked = torch.tensor([[1, 0, 1, 0, 0],    # AP = (1/1 + 2/3) / 2
                           [0, 0, 0, 0, 0],    # no relevant item: 0, still counted
                           [0, 1, 0, 0, 1]])   # AP = (1/2 + 2/5) / 2
    expected = ((1 + 2 / 3) / 2 + 0 + (1 / 2 + 2 / 5) / 2) / 3
    assert mean_average_precision(ranked.bool()) == pytest.approx(expected)
    # mAP@2: only the top 2 count, R_q counted within them
    assert mean_average_precision(ranked.bool(), topk=2) == pytest.approx((1 + 0 + 1 / 2) / 3)
    assert precision_at(ranked.bool(), 2) == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)


def test_hamming_distance_and_stable_ties():
    db = torch.tensor([[1, 1, 1, 1], [-1, -1, -1, -1], [1, 1, -1, -1], [1, 1, 1, -1], [-1, 1, 1, 1]]).float()
    q = torch.tensor([[1, 1, 1, 1]]).float()
    assert hamming_distance(q, db).tolist() == [[0, 4, 2, 1, 1]]
    # items 3 and 4 tie at distance 1: database order decides, every time
    assert hamming_ranking(q, db).tolist() == [[0, 3, 4, 2, 1]]


def test_ties_make_map_depend_on_database_order():
    """With all codes equal every ranking is a tie; the stable order is the database order."""
    db = torch.ones(4, 8)
    q = torch.ones(1, 8)
    labels_db = torch.tensor([1, 0, 0, 1])
    ranked = (labels_db[hamming_ranking(q, db)] == 1)
    assert mean_average_precision(ranked) == pytest.approx((1 / 1 + 2 / 4) / 2)


def test_binarize_maps_zero_to_plus_one():
    assert binarize(torch.tensor([-0.3, 0.0, 2.0])).tolist() == [-1.0, 1.0, 1.0]


def test_pr_curve_known_values():
    ranked = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0]]).bool()
    curve = precision_recall_curve(ranked, [1, 2, 4])
    assert curve['precision'] == pytest.approx([(1 + 0) / 2, (1 / 2 + 1 / 2) / 2, (2 / 4 + 1 / 4) / 2])
    assert curve['recall'] == pytest.approx([(1 / 2 + 0) / 2, (1 / 2 + 1) / 2, 1.0])


def fake_predictions(codes, labels, is_query):
    return [dict(hash_feature=torch.tensor(code, dtype=torch.float32), gt_label=torch.tensor([label]), is_query=query,
                 sample_idx=i) for i, (code, label, query) in enumerate(zip(codes, labels, is_query))]


def test_metric_end_to_end_and_independent_of_process_split(tmp_path):
    codes = [[1, 1, 1], [-1, -1, -1], [1, -1, 1], [0.5, 0.2, 0.9], [-0.4, -0.1, -2.0]]
    labels = [0, 1, 0, 0, 1]
    is_query = [False, False, False, True, True]
    preds = fake_predictions(codes, labels, is_query)

    metric = RetrievalMetric(map_topk=(1, ), precision_at=(2, ), pr_curve_file=str(tmp_path / 'pr.png'))
    metric.process(None, preds)
    single = metric.compute_metrics(metric.results)
    # query 3 (+1,+1,+1, class 0): db ranking 0 (d0, rel), 2 (d1, rel), 1 (d3) -> AP 1
    # query 4 (-1,-1,-1, class 1): db ranking 1 (d0, rel), 2 (d2), 0 (d3) -> AP 1
    assert single['mAP'] == pytest.approx(1.0) and single['mAP@1'] == pytest.approx(1.0)
    assert single['P@2'] == pytest.approx((1 + 0.5) / 2)
    assert (tmp_path / 'pr.png').is_file()
    assert json.loads((tmp_path / 'pr.json').read_text())['cutoffs'] == [1, 2, 3]  # every cutoff of a small database

    # Results gathered from 2 ranks of a padded DefaultSampler: interleaved order plus a duplicate
    sharded = [preds[i] for i in (0, 2, 4, 0)] + [preds[i] for i in (1, 3)]
    metric2 = RetrievalMetric(map_topk=(1, ), precision_at=(2, ))
    metric2.process(None, sharded)
    assert metric2.compute_metrics(metric2.results) == pytest.approx(
        {k: v for k, v in single.items()})


def test_metric_errors_name_the_missing_field():
    metric = RetrievalMetric()
    with pytest.raises(KeyError, match='is_query'):
        metric.process(None, [dict(hash_feature=torch.ones(4), gt_label=torch.tensor([0]), sample_idx=0)])
    metric.process(None, fake_predictions([[1, 1]], [0], [False]))
    with pytest.raises(ValueError, match='database and query'):
        metric.compute_metrics(metric.results)


def test_pr_curve_shows_the_map_in_legend_and_title(tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    saved = []
    monkeypatch.setattr(Figure, 'savefig', lambda figure, *args, **kwargs: saved.append(figure))
    # query 3 ranks the relevant db items 0 and 2 first and second: AP 1; query 4 finds its only one third: 1/3
    preds = fake_predictions([[1, 1, 1], [-1, -1, -1], [1, -1, 1], [0.5, 0.2, 0.9], [1, 1, 1]], [0, 1, 0, 0, 1],
                             [False, False, False, True, True])
    metric = RetrievalMetric(pr_curve_file=str(tmp_path / 'pr.png'))
    metric.process(None, preds)
    assert metric.compute_metrics(metric.results)['mAP'] == pytest.approx(2 / 3)
    axes = saved[0].axes[0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ['mAP 0.6667']
    assert 'mAP 0.6667' in axes.get_title()
