"""Datasets, loaders and input checks shared by the methods (method-specific datasets live in methods/)."""
from . import preparation, transforms
from .checks import collect_image_files, list_images, read_rgb_image, require_dir
from .raster_windows import RandomWindowDataset, RandomWindowEpochHook
from .seg_datasets import CheckedPotsdamDataset, CheckedSegDatasetMixin
from .shaanxi_buildings import ShaanxiBuildingsDataset
from .synthetic import POTSDAM_CLASSES, generate_scene, make_synthetic_potsdam
from .unlabeled import UnlabeledImageFolder

__all__ = ['CheckedPotsdamDataset', 'CheckedSegDatasetMixin', 'POTSDAM_CLASSES', 'RandomWindowDataset',
           'RandomWindowEpochHook', 'ShaanxiBuildingsDataset', 'UnlabeledImageFolder', 'collect_image_files',
           'generate_scene', 'list_images', 'make_synthetic_potsdam', 'preparation', 'read_rgb_image', 'require_dir',
           'transforms']
