"""Datasets, loaders and input checks shared by the methods (method-specific datasets live in methods/)."""
from . import preparation, transforms
from .seg_datasets import CheckedPotsdamDataset, CheckedSegDatasetMixin
from .shaanxi_buildings import ShaanxiBuildingsDataset
from .unlabeled import UnlabeledImageFolder

__all__ = ['CheckedPotsdamDataset', 'CheckedSegDatasetMixin', 'ShaanxiBuildingsDataset', 'UnlabeledImageFolder',
           'preparation', 'transforms']
