# SDSH pre-training (configs/sdsh_vit-s14_aid-64bit.py: model, views, schedule, 64-bit codes) on random 600 px
# windows (AID's scene size) of R, G, B, NIR orthophotos of any size: bands=(1, 2, 3) reads R, G and B
# (RandomWindowDataset, docs/datasets.md#random-windows-of-whole-scenes). 16-bit scenes also need the loader's
# value range, e.g. --cfg-options "train_dataloader.dataset.pipeline.0.value_range=(0,3000)".
# Data: any folder tree of scenes at data/rgbnir_scenes (best tiled, ZSTD-compressed GeoTIFFs: docs/datasets.md);
# evaluation stays on AID's retrieval split (data/AID).
#
# The iteration-based loop runs one epoch: the dataset's epoch_length (samples, not SDSH's 80-iteration
# "epoch") covers the whole run on one GPU, 8,000 iterations x 64 images, so no window repeats (multiply it
# by the number of GPUs).
_base_ = './sdsh_vit-s14_aid-64bit.py'

train_dataloader = dict(
    dataset=dict(_delete_=True, type='RandomWindowDataset', data_root='data/rgbnir_scenes', epoch_length=512_000,
                 window_size=600, bands=(1, 2, 3), pipeline={{_base_.train_pipeline}}))
