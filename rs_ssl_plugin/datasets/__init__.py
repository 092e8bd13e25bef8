from .seg_datasets import CheckedPotsdamDataset, CheckedSegDatasetMixin
from .retrieval import AIDRetrieval, RetrievalImageFolder, UCMercedRetrieval  # noqa: F401
from .shaanxi_buildings import ShaanxiBuildingsDataset
from .transforms import *  # noqa: F401,F403
from .unlabeled import UnlabeledImageFolder
from .unsupervised_seg import CocoStuff27Dataset, Potsdam3Dataset

__all__ = ['CheckedPotsdamDataset', 'CheckedSegDatasetMixin', 'ShaanxiBuildingsDataset', 'UnlabeledImageFolder', 'CocoStuff27Dataset', 'Potsdam3Dataset']
