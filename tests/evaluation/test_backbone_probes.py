"""Frozen-backbone probes on constructed features whose answer is known, class-folder splits, strict weight
loading and the feature cache."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import rs_ssl_plugin  # noqa: F401
from rs_ssl_plugin.datasets.class_folders import list_class_folder, read_split_list, seeded_split
from rs_ssl_plugin.evaluation.backbone_probes import (
    SegProbeData,
    SegSample,
    classification_scores,
    fit_linear_probe,
    knn_classify,
    save_results,
    seg_probe_scores,
    select_linear_probe,
)
from rs_ssl_plugin.evaluation.features import (
    FeatureCache,
    FrozenBackbone,
    Preprocessing,
    build_frozen_backbone,
    extract_pooled_features,
)


def blobs(num_classes=5, per_class=40, dims=16, spread=0.05, seed=0):
    """Well-separated clusters: class c around its own random direction."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dims, generator=gen) * 3
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return centres[labels] + spread * torch.randn(len(labels), dims, generator=gen), labels


def reference_knn(train, train_labels, test, num_classes, k, temperature):
    """DINO's weighted kNN, one test sample at a time."""
    train = train / train.norm(dim=1, keepdim=True)
    predictions = []
    for x in test / test.norm(dim=1, keepdim=True):
        similarity = train @ x
        top = torch.argsort(similarity, descending=True)[:k]
        votes = np.zeros(num_classes)
        for j in top.tolist():
            votes[int(train_labels[j])] += float(torch.exp(similarity[j] / temperature))
        predictions.append(int(np.argmax(votes)))
    return torch.tensor(predictions)


def test_knn_separable_clusters_score_100_and_random_labels_near_chance():
    x, y = blobs()
    train, test = torch.arange(0, len(y), 2), torch.arange(1, len(y), 2)
    pred = knn_classify(x[train], y[train], x[test], 5)
    assert classification_scores(pred, y[test], list('abcde'))['metrics']['top1'] == 100.0
    gen = torch.Generator().manual_seed(1)
    noise, labels = torch.randn(2000, 32, generator=gen), torch.randint(0, 10, (2000, ), generator=gen)
    pred = knn_classify(noise[:1000], labels[:1000], noise[1000:], 10)
    accuracy = float((pred == labels[1000:]).float().mean())
    assert 0.04 < accuracy < 0.17  # chance is 0.10


def test_knn_equals_a_per_sample_reference():
    gen = torch.Generator().manual_seed(2)
    train, test = torch.randn(60, 8, generator=gen), torch.randn(25, 8, generator=gen)
    labels = torch.randint(0, 4, (60, ), generator=gen)
    for k, temperature in ((20, 0.07), (5, 0.5), (100, 0.07)):  # k above the training size is capped
        expected = reference_knn(train, labels, test, 4, min(k, 60), temperature)
        assert torch.equal(knn_classify(train, labels, test, 4, k, temperature, chunk_size=7), expected)


def test_linear_probe_separable_100_random_labels_near_chance():
    x, y = blobs(num_classes=4, per_class=50, dims=20, spread=0.5)
    train, test = torch.arange(0, len(y), 2), torch.arange(1, len(y), 2)
    probe = select_linear_probe(x[train], y[train], 4)
    assert float((probe.predict(x[test]) == y[test]).float().mean()) == 1.0
    gen = torch.Generator().manual_seed(3)
    noise, labels = torch.randn(1200, 20, generator=gen), torch.randint(0, 4, (1200, ), generator=gen)
    probe = select_linear_probe(noise[:600], labels[:600], 4, weight_decays=(1e-2, 1.0))
    accuracy = float((probe.predict(noise[600:]) == labels[600:]).float().mean())
    assert 0.17 < accuracy < 0.34  # chance is 0.25


def test_linear_probe_minimises_the_regularised_cross_entropy():
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(80, 6, generator=gen), torch.randint(0, 3, (80, ), generator=gen)
    probe = fit_linear_probe(x, y, 3, weight_decay=0.1)
    z = (x - x.mean(0)) / x.std(0)

    def objective(weight, bias):
        return float(nn.functional.cross_entropy(z @ weight + bias, y) + 0.05 * weight.pow(2).sum())

    best = objective(probe.weight, probe.bias)
    for _ in range(20):  # no nearby point is better: a (convex) minimum
        assert best <= objective(probe.weight + 1e-2 * torch.randn(6, 3, generator=gen), probe.bias) + 1e-9
    assert torch.equal(fit_linear_probe(x, y, 3, weight_decay=0.1).weight, probe.weight)  # deterministic


class ColourFeatures(nn.Module):
    """A 'backbone' whose features are the normalised pixel colours at stride 1 and 2 (two scales)."""

    def forward(self, x):
        return x, nn.functional.avg_pool2d(x, 2)


def write_seg_set(root, num_images, colours, random_labels, seed):
    """Images whose pixel colour is the colour of its class (random_labels: labels drawn independently)."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(num_images):
        label = np.kron(rng.integers(0, len(colours), (4, 4)), np.ones((8, 8), np.int64))
        image = np.asarray(colours, np.uint8)[label]
        if random_labels:
            label = rng.integers(0, len(colours), label.shape)
        os.makedirs(root, exist_ok=True)
        img_path, ann_path = osp.join(root, f'{i}.png'), osp.join(root, f'{i}_label.png')
        cv2.imwrite(img_path, image[..., ::-1])
        cv2.imwrite(ann_path, (label + 1).astype(np.uint8))  # 0 = ignore, as mmseg's converted Potsdam
        samples.append(SegSample(img_path, ann_path, reduce_zero_label=True))
    return samples


@pytest.mark.parametrize('random_labels', [False, True])
def test_seg_probe_known_answers(tmp_path, random_labels):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    samples = write_seg_set(str(tmp_path), 6, colours, random_labels, seed=0)
    data = SegProbeData(('a', 'b', 'c', 'd'), samples[:4], samples[4:])
    backbone = FrozenBackbone(ColourFeatures(), Preprocessing(), 'colours', 'none')
    result = seg_probe_scores(backbone, data, stride=2, progress=False)
    if random_labels:
        assert result['metrics']['aAcc'] < 40  # chance is 25 %
    else:
        assert result['metrics']['mIoU'] == pytest.approx(100.0, abs=1e-6)
        assert all(row['IoU'] == pytest.approx(100.0) for row in result['per_class'].values())
    assert 'mean' in result['table'] and set(result['per_class']) == set('abcd')


def test_class_folders_seeded_split_and_lists(tmp_path):
    for level in ('land/arable/dry', 'land/arable/paddy', 'water/lake/big'):
        os.makedirs(tmp_path / level)
        for j in range(5):
            (tmp_path / level / f'{j}.jpg').write_bytes(b'x')
    classes, files = list_class_folder(str(tmp_path), depth=3)
    assert classes == ['land/arable/dry', 'land/arable/paddy', 'water/lake/big'] and all(len(f) == 5 for f in files)
    with pytest.raises(ValueError, match='holds no images'):
        list_class_folder(str(tmp_path), depth=2)
    train, test = seeded_split(files, 0.6, seed=1)
    assert [sum(1 for _, c in train if c == k) for k in range(3)] == [3, 3, 3]
    assert not set(train) & set(test) and len(train) + len(test) == 15
    assert seeded_split(files, 0.6, seed=1) == (train, test) and seeded_split(files, 0.6, seed=2) != (train, test)
    (tmp_path / 'train.txt').write_text('land/arable/dry/0.jpg\n# comment\nwater/lake/big/1.jpg 0\n'
                                        'land/arable/paddy/2.jpg water/lake/big\n')
    assert [c for _, c in read_split_list(str(tmp_path / 'train.txt'), str(tmp_path), classes)] == [0, 0, 2]
    (tmp_path / 'bad.txt').write_text('land/arable/dry/9.jpg\n')
    with pytest.raises(FileNotFoundError, match='bad.txt:1'):
        read_split_list(str(tmp_path / 'bad.txt'), str(tmp_path), classes)


def resnet18_config(tmp_path):
    path = tmp_path / 'backbone.py'
    path.write_text("default_scope = 'mmpretrain'\nbackbone = dict(type='ResNet', depth=18)\n"
                    "data_preprocessor = dict(mean=[1., 2., 3.], std=[4., 5., 6.], to_rgb=False)\n")
    return str(path)


def test_strict_loading_reports_missing_and_unexpected_keys(tmp_path):
    config = resnet18_config(tmp_path)
    random = build_frozen_backbone(config, 'random', seed=3)
    assert random.label == 'random init' and random.preprocessing.describe() == dict(
        mean=(1., 2., 3.), std=(4., 5., 6.), rgb=False)
    state = {f'backbone.{k}': v for k, v in random.module.state_dict().items()}
    torch.save(dict(state_dict=state, meta={}), tmp_path / 'good.pth')
    loaded = build_frozen_backbone(config, str(tmp_path / 'good.pth'), seed=4)
    assert loaded.fingerprint == random.fingerprint  # same weights, config and preprocessing
    assert build_frozen_backbone(config, 'random', seed=4).fingerprint != random.fingerprint
    state.pop('backbone.fc.weight', None)
    del state['backbone.layer4.1.bn2.weight']
    state['backbone.head.weight'] = torch.zeros(2)
    torch.save(dict(state_dict=state), tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match=r'(?s)missing: layer4.1.bn2.weight.*unexpected: head.weight'):
        build_frozen_backbone(config, str(tmp_path / 'bad.pth'))


def test_feature_cache_is_keyed_by_weights_and_files(tmp_path):
    images = []
    for i in range(3):
        images.append(str(tmp_path / f'{i}.png'))
        cv2.imwrite(images[-1], np.full((20, 24, 3), 40 * i, np.uint8))
    cache = FeatureCache(str(tmp_path / 'cache'))
    backbone = build_frozen_backbone(resnet18_config(tmp_path), 'random')
    first = extract_pooled_features(backbone, images, img_size=32, batch_size=2, cache=cache, progress=False)
    assert first.shape == (3, 512) and len(os.listdir(tmp_path / 'cache')) == 1
    again = extract_pooled_features(backbone, images, img_size=32, cache=cache, progress=False)
    assert torch.equal(first, again) and len(os.listdir(tmp_path / 'cache')) == 1
    with torch.no_grad():  # changed weights: a new key, new features
        backbone.module.conv1.weight.mul_(2)
    backbone._fingerprint = None
    changed = extract_pooled_features(backbone, images, img_size=32, cache=cache, progress=False)
    assert len(os.listdir(tmp_path / 'cache')) == 2 and not torch.equal(changed, first)
    cv2.imwrite(images[0], np.full((20, 24, 3), 99, np.uint8))  # a changed image file: a new key too
    os.utime(images[0], ns=(1, 1))
    extract_pooled_features(backbone, images, img_size=32, cache=cache, progress=False)
    assert len(os.listdir(tmp_path / 'cache')) == 3


def test_results_json_and_csv_are_not_overwritten(tmp_path):
    result = dict(label='random init', checkpoint='random', weights='seed 0', metrics=dict(top1=50.0),
                  per_class={'a': dict(accuracy=100.0, support=1), 'b': dict(accuracy=0.0, support=1)})
    json_path, csv_path = save_results(dict(task='knn', results=[result]), str(tmp_path / 'r.json'))
    assert json.load(open(json_path))['results'][0]['metrics'] == dict(top1=50.0)
    assert open(csv_path).read().splitlines()[1:] == ['random init,random,a,100.0,1', 'random init,random,b,0.0,1']
    with pytest.raises(FileExistsError, match='r.json already exists'):
        save_results(dict(task='knn', results=[result]), json_path)
