"""Legends and titles in the written pictures, and deterministic PCA feature maps."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from helpers.tools import load_tool
from rs_ssl_plugin.visualization.cluster_maps import (
    cluster_legend,
    cluster_map_paths,
    prototype_palette,
    write_cluster_maps,
)
from rs_ssl_plugin.visualization.feature_pca import fit_pca, pca_rgb_maps
from rs_ssl_plugin.visualization.legend import legend_image, panel_figure, write_legend
from rs_ssl_plugin.visualization.prediction_figure import colour_class_map, prediction_figure, write_prediction_figure

COLOURS = [(255, 0, 0), (0, 128, 255), (20, 200, 20)]


def has_colour(image_rgb, colour, min_pixels=100):
    return int((image_rgb == np.asarray(colour, np.uint8)).all(axis=-1).sum()) >= min_pixels


def test_legend_image_has_every_swatch_and_text(tmp_path):
    image = legend_image(['road', 'building', 'tree'], COLOURS, title='classes')
    assert all(has_colour(image, c, 300) for c in COLOURS)  # 22 x 22 swatches, 20 x 20 inside the outline
    text_rows = (image.min(axis=-1) < 80).any(axis=1)  # dark text pixels next to the swatches
    assert text_rows.sum() > 20
    path = str(tmp_path / 'legend.png')
    write_legend(path, ['road', 'building', 'tree'], COLOURS)
    assert all(has_colour(cv2.imread(path)[..., ::-1], c, 300) for c in COLOURS)
    with pytest.raises(ValueError, match='one colour per name'):
        legend_image(['a'], COLOURS)


def test_panel_figure_titles_and_legend_texts():
    panel = np.zeros((8, 8, 3), np.uint8)
    figure = panel_figure([[panel] * 3] * 2, ['image', 'ground truth', 'prediction'], (['a', 'b'], COLOURS[:2]),
                          'classes', row_titles=['x.png', 'y.png'], title='demo')
    assert [ax.get_title() for ax in figure.axes[:3]] == ['image', 'ground truth', 'prediction']
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ['a', 'b']
    assert figure.axes[0].get_ylabel() == 'x.png' and figure._suptitle.get_text() == 'demo'
    with pytest.raises(ValueError, match='row 0 has 1 panels'):
        panel_figure([[panel]], ['a', 'b'])


def test_cluster_figure_written_with_legend_of_present_clusters(tmp_path):
    ids = np.zeros((40, 60), np.int64)
    ids[:, 20:] = 3
    ids[:10, :10] = 7
    rgb = np.full((40, 60, 3), 128, np.uint8)
    paths = cluster_map_paths('scene.tif', str(tmp_path))
    palette = prototype_palette(256)
    write_cluster_maps(ids, rgb, paths, palette, title='scene.tif')
    assert all(osp.isfile(p) for p in paths.values())
    colors = cv2.imread(paths['color'])
    names, legend_colours = cluster_legend(ids, colors)
    assert names == ['cluster 3 (66.7 %)', 'cluster 0 (29.2 %)', 'cluster 7 (4.2 %)']
    assert legend_colours[0] == tuple(int(c) for c in palette[3][::-1])  # RGB of the BGR palette entry
    figure = cv2.imread(paths['figure'])[..., ::-1]
    assert figure.shape[1] > 3 * 100 and has_colour(figure, legend_colours[2], 20)  # the legend patch of cluster 7
    names, _ = cluster_legend(np.arange(30).reshape(5, 6), prototype_palette(30)[np.arange(30).reshape(5, 6)],
                              max_entries=4)
    assert len(names) == 5 and names[-1].startswith('+26 more')


def test_pca_maps_are_deterministic_and_find_the_main_direction():
    gen = torch.Generator().manual_seed(0)
    direction = torch.zeros(16)
    direction[5] = -1.0
    maps = []
    for _ in range(2):
        strength = torch.linspace(-3, 3, 10).view(1, 10, 1).expand(1, 10, 12)
        maps.append(direction.view(16, 1, 1) * strength + 0.05 * torch.randn(16, 10, 12, generator=gen))
    mean, components = fit_pca(maps)
    assert components.shape == (3, 16) and abs(float(components[0, 5])) > 0.99
    assert float(components[0, 5]) > 0  # signed: the largest entry is positive
    again = fit_pca([m.clone() for m in maps])
    assert torch.equal(again[1], components)
    rgb = pca_rgb_maps(maps, mean, components)
    assert [m.shape for m in rgb] == [(10, 12, 3)] * 2 and all(m.dtype == np.uint8 for m in rgb)
    np.testing.assert_array_equal(rgb[0], pca_rgb_maps(maps, *again)[0])
    red = rgb[0][..., 0].astype(int)
    # red (the first component, +e5) falls along the rows, where the planted -e5 direction grows
    assert red[0].mean() - red[-1].mean() > 150


def test_vis_features_tool_any_size_and_geotiff(tmp_path):
    import rasterio
    config = tmp_path / 'backbone.py'
    config.write_text("default_scope = 'mmpretrain'\nbackbone = dict(type='ResNet', depth=18)\n")
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'a.png'), np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    with rasterio.open(str(images / 'b.tif'), 'w', driver='GTiff', width=50, height=40, count=3, dtype='uint8') as f:
        f.write(np.random.default_rng(1).integers(0, 255, (3, 40, 50), dtype=np.uint8))
    args = [str(config), 'random', str(images), '--out-dir', str(tmp_path / 'out'), '--device', 'cpu']
    main = load_tool('vis_features').main
    main(args)
    first = cv2.imread(str(tmp_path / 'out' / 'a_pca.png'))
    assert first.shape == (70, 90, 3) and cv2.imread(str(tmp_path / 'out' / 'b_pca.png')).shape == (40, 50, 3)
    assert cv2.imread(str(tmp_path / 'out' / 'b_pca_figure.png')) is not None
    with pytest.raises(SystemExit, match='already exists'):
        main(args)
    main(args + ['--force'])
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / 'out' / 'a_pca.png')), first)  # deterministic


def test_vis_features_draws_sdsh_patch_tokens_at_any_size(tmp_path):
    """SDSH's backbone returns a pooled hash code, fixed to 2 patch counts: the PCA map comes from its patch
    tokens, with the position embedding interpolated to the image's grid."""
    config = tmp_path / 'sdsh_backbone.py'
    config.write_text("default_scope = 'mmpretrain'\ncustom_imports = dict(imports=['rs_ssl_plugin'])\n"
                      "backbone = dict(type='SDSHViT', arch=dict(embed_dims=32, num_layers=2, num_heads=2, "
                      "feedforward_channels=64), img_size=28, local_img_size=14, patch_size=7, hash_bits=16, "
                      "ibot_channels=16)\n")
    image = tmp_path / 'scene.png'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (70, 91, 3), dtype=np.uint8))
    load_tool('vis_features').main([str(config), 'random', str(image), '--out-dir', str(tmp_path / 'out'),
                                    '--device', 'cpu'])
    assert cv2.imread(str(tmp_path / 'out' / 'scene_pca.png')).shape == (70, 91, 3)


def test_prediction_figure_has_titles_every_class_colour_and_the_ignored_pixels_in_its_legend(tmp_path):
    """The image | ground truth | prediction figure of tools/test.py --out-dir (and so of the demo)."""
    truth = np.kron(np.array([[0, 1], [2, 255]]), np.ones((16, 16), np.int64))  # 255: ignored
    prediction = np.kron(np.array([[0, 1], [2, 2]]), np.ones((16, 16), np.int64))
    rows = [(name, np.full((32, 32, 3), 90, np.uint8), truth, prediction) for name in ('x.png', 'y.png')]
    figure = prediction_figure(rows, ['road', 'building', 'tree'], COLOURS, 'model.py with iter_1.pth')
    assert [ax.get_title() for ax in figure.axes[:3]] == ['image', 'ground truth', 'prediction']
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ['road', 'building', 'tree', 'ignored']
    assert figure.axes[3].get_ylabel() == 'y.png' and figure._suptitle.get_text() == 'model.py with iter_1.pth'
    path = str(tmp_path / 'figure.png')
    write_prediction_figure(path, rows[:1], ['road', 'building', 'tree'], COLOURS, 'title')
    written = cv2.imread(path)[..., ::-1]
    assert all(has_colour(written, c, 10) for c in COLOURS)
    without_ignored = prediction_figure([(name, image, prediction, prediction) for name, image, _, _ in rows],
                                        ['road', 'building', 'tree'], COLOURS, 'title')
    assert [t.get_text() for t in without_ignored.legends[0].get_texts()] == ['road', 'building', 'tree']


def test_class_colours_leave_ignored_pixels_black():
    labels = np.array([[0, 2], [255, -1]])
    np.testing.assert_array_equal(colour_class_map(labels, COLOURS),
                                  [[COLOURS[0], COLOURS[2]], [(0, 0, 0), (0, 0, 0)]])


@pytest.mark.parametrize('num_clusters, min_distance', [(27, 30), (256, 10)])
def test_cluster_palette_keeps_every_two_colours_apart(num_clusters, min_distance):
    """Any two clusters (neighbours included) differ by at least min_distance in CIELAB (golden-ratio hues with
    random saturation gave pairs 8.6 and 1.2 apart), none is white or black, and cluster k keeps its colour."""
    palette = prototype_palette(num_clusters)
    lab = cv2.cvtColor(palette[None].astype(np.float32) / 255, cv2.COLOR_BGR2LAB)[0]
    distances = np.linalg.norm(lab[:, None] - lab[None], axis=-1)[np.triu_indices(num_clusters, 1)]
    assert distances.min() >= min_distance
    assert not ((palette == 255).all(axis=1) | (palette == 0).all(axis=1)).any()
    assert (prototype_palette(8) == palette[:8]).all()
