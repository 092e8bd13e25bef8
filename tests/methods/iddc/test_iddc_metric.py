"""Hungarian-matched metric on constructed confusion matrices and predictions."""
import itertools

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import METRICS

from rs_ssl_plugin.evaluation.confusion import confusion_matrix
from rs_ssl_plugin.methods.iddc.metric import HungarianIoUMetric, hungarian_match, matched_scores


def sample(pred, label):
    return dict(pred_sem_seg=dict(data=torch.as_tensor(pred)[None]),
                gt_sem_seg=dict(data=torch.as_tensor(label)[None]))


def evaluate(metric, pairs):
    metric.process({}, [sample(pred, label) for pred, label in pairs])
    return metric.evaluate(len(pairs))


def brute_force_best(hist):
    """The best one-to-one assignment by trying every permutation (small matrices only)."""
    n = hist.shape[0]
    return max(sum(hist[c, perm[c]] for c in range(n)) for perm in itertools.permutations(range(n)))


def test_confusion_matrix_rows_are_labels_and_ignores_255():
    label = torch.tensor([[0, 0, 1], [2, 255, 1]])
    pred = torch.tensor([[2, 2, 0], [1, 0, 0]])
    hist = confusion_matrix(label, pred, num_classes=3, num_predicted=3)
    expected = np.zeros((3, 3), int)
    for c, k in ((0, 2), (0, 2), (1, 0), (2, 1), (1, 0)):
        expected[c, k] += 1
    assert (hist.numpy() == expected).all()
    with pytest.raises(ValueError, match='cluster ids'):
        confusion_matrix(label, pred + 3, num_classes=3, num_predicted=3)


def test_permuted_perfect_prediction_scores_100():
    init_default_scope('mmseg')
    rng = np.random.default_rng(0)
    label = rng.integers(0, 5, size=(2, 16, 16))
    label[0, :2] = 255
    permutation = np.array([3, 0, 4, 1, 2])
    pred = np.where(label == 255, 0, permutation[np.minimum(label, 4)])
    metric = METRICS.build(dict(type='HungarianIoUMetric', num_classes=5))
    result = evaluate(metric, [(pred[0], label[0]), (pred[1], label[1])])
    assert result == {'hungarian/Acc': 100.0, 'hungarian/mIoU': 100.0}


def test_matching_is_optimal_and_scores_follow_the_definitions():
    rng = np.random.default_rng(1)
    for _ in range(5):
        hist = rng.integers(0, 50, size=(4, 4))
        cluster_of = hungarian_match(hist)
        assert sorted(cluster_of) == [0, 1, 2, 3]
        assert sum(hist[c, cluster_of[c]] for c in range(4)) == brute_force_best(hist)
        iou, acc, pixel_acc, _ = matched_scores(hist)
        for c in range(4):
            tp = hist[c, cluster_of[c]]
            fn = hist[c].sum() - tp
            fp = hist[:, cluster_of[c]].sum() - tp
            assert iou[c] == pytest.approx(tp / (tp + fp + fn))
            assert acc[c] == pytest.approx(tp / (tp + fn))
        assert pixel_acc == pytest.approx(sum(hist[c, cluster_of[c]] for c in range(4)) / hist.sum())


def test_known_matrix():
    # clusters 0 and 1 swapped; class 2 split over clusters 2 (6 px) and 0 (2 px)
    hist = np.array([[0, 10, 0],
                     [8, 0, 0],
                     [2, 0, 6]])
    iou, _, pixel_acc, cluster_of = matched_scores(hist)
    assert list(cluster_of) == [1, 0, 2]
    assert pixel_acc == pytest.approx(24 / 26)
    assert np.allclose(iou, [1.0, 8 / 10, 6 / 8])


def test_more_clusters_than_classes_and_absent_class():
    hist = np.array([[5, 1, 0],
                     [0, 2, 4]])  # cluster 1 stays unmatched: its pixels count as errors
    iou, _, pixel_acc, cluster_of = matched_scores(hist)
    assert list(cluster_of) == [0, 2]
    assert pixel_acc == pytest.approx(9 / 12)
    assert np.allclose(iou, [5 / 6, 4 / 6])
    iou, _, _, _ = matched_scores(np.array([[5, 0], [0, 0]]))  # class 1 neither labelled nor predicted
    assert iou[0] == 1.0 and np.isnan(iou[1])
    with pytest.raises(ValueError, match='at least as many clusters'):
        HungarianIoUMetric(num_classes=3, num_clusters=2).process({}, [sample([[0]], [[0]])])


def test_dataset_level_matching_differs_from_per_image():
    """One assignment for the whole set: an image-wise relabelling does not score 100."""
    metric = HungarianIoUMetric(num_classes=2)
    label = np.array([[0, 0, 1, 1]])
    result = evaluate(metric, [(label, label), (1 - label, label)])
    assert result['hungarian/Acc'] == 50.0


def test_eval_size_resizes_both_maps_with_nearest():
    label = np.zeros((4, 6), int)
    label[:, 3:] = 1
    pred = label.copy()
    pred[0, 0] = 1  # one wrong pixel out of 24 at native size
    native = evaluate(HungarianIoUMetric(num_classes=2), [(pred, label)])
    assert native['hungarian/Acc'] == pytest.approx(100 * 23 / 24, abs=0.01)
    resized = evaluate(HungarianIoUMetric(num_classes=2, eval_size=(8, 12)), [(pred, label)])
    assert resized['hungarian/Acc'] == pytest.approx(100 * 92 / 96, abs=0.01)  # the pixel covers 2x2
    with pytest.raises(ValueError, match='differ in size'):
        HungarianIoUMetric(num_classes=2).process({}, [sample(pred[:2], label)])
