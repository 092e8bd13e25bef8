"""tools/test.py --show/--show-dir draw with ReadableSegLocalVisualizer: every class label contrasts with its
box and the box stays inside the image (mmseg's white text vanished on Potsdam's white impervious surfaces and
was cut off at the right edge)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.datasets import PotsdamDataset
from mmseg.structures import SegDataSample

from helpers.tools import REPO
from rs_ssl_plugin.engine.runner_config import enable_visualization
from rs_ssl_plugin.visualization.seg_visualizer import (
    WHITE,
    ReadableSegLocalVisualizer,
    contrast_ratio,
    text_colour_on,
)

CLASSES = list(PotsdamDataset.METAINFO['classes'])  # impervious_surface first, white in the palette
PALETTE = PotsdamDataset.METAINFO['palette']


def draw_prediction(labels, name):
    """The drawing of the prediction ``labels`` over a grey image, as --show-dir saves it."""
    visualizer = ReadableSegLocalVisualizer(name=name)
    visualizer.dataset_meta = dict(classes=CLASSES, palette=PALETTE)  # as the Runner sets it from the dataset
    sample = SegDataSample(pred_sem_seg=PixelData(data=torch.from_numpy(labels)[None]))
    visualizer.add_datasample('scene', np.full(labels.shape + (3, ), 128, np.uint8), sample, draw_gt=False)
    return visualizer.get_image()


def fill_extent(drawn, colour):
    """Top, bottom, left and right of the pixels of exactly ``colour``: a label box's fill (the class regions
    are blended with the grey image, 0.2 * 128 + 0.8 * colour)."""
    rows, columns = np.nonzero((drawn == np.asarray(colour, np.uint8)).all(axis=-1))
    return rows.min(), rows.max(), columns.min(), columns.max()


def test_white_class_label_at_the_right_edge_is_readable_and_inside_the_image():
    labels = np.full((256, 256), CLASSES.index('tree'), np.int64)
    labels[:, 236:] = CLASSES.index('impervious_surface')  # mmseg's label spot is 10 px from the right edge
    drawn = draw_prediction(labels, 'readable_labels')
    top, bottom, left, right = fill_extent(drawn, WHITE)
    assert right - left > 100  # the whole 'impervious_surface', not its first letters
    # the box's outline lies inside the image, on all four sides
    assert top >= 1 and left >= 1 and bottom <= 254 and right <= 254
    ink = drawn[top - 1:bottom + 2, left - 1:right + 2]
    assert (ink[[0, -1]] == 0).all() and (ink[:, [0, -1]] == 0).all()
    text = drawn[top:bottom + 1, left:right + 1]
    text = text[text.max(axis=-1) < 100]  # the dark strokes of the letters on the white fill
    assert len(text) > 50
    assert contrast_ratio(text.mean(axis=0), WHITE) >= 4.5
    # both labels sit at the top row (the widest rows of both classes); moved into the image, the white one
    # reached the tree's and went below it
    tree_top, tree_bottom, tree_left, tree_right = fill_extent(drawn, PALETTE[CLASSES.index('tree')])
    assert tree_bottom < top and tree_right > left


@pytest.mark.parametrize('colour', PALETTE, ids=CLASSES)
def test_text_colour_reads_on_every_potsdam_class(colour):
    assert contrast_ratio(text_colour_on(colour), colour) >= 4.5


def test_label_wider_than_the_image_shrinks_to_fit():
    drawn = draw_prediction(np.zeros((48, 64), np.int64), 'small_image')
    top, bottom, left, right = fill_extent(drawn, WHITE)
    assert left >= 1 and right <= 62 and bottom <= 46 and right - left > 50


def test_show_dir_draws_with_the_readable_visualizer():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_r50_random_potsdam.py'))
    enable_visualization(cfg, show_dir='vis')
    assert cfg.visualizer.type == 'ReadableSegLocalVisualizer' and cfg.visualizer.save_dir == 'vis'
