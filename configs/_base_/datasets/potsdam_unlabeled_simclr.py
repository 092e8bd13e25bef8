# Unlabeled Potsdam crops for two-view contrastive pre-training with the SimCLR/VISSL augmentations that
# FALSE uses: RandomResizedCrop(224) -> flip -> colour jitter (0.8, 0.8, 0.8, 0.2; p=0.8) -> grayscale
# (p=0.2) -> Gaussian blur (sigma 0.1-2.0, p=0.5), each view independently.
# data_root/unlabeled is any folder tree of image crops, e.g. the crops of the Potsdam converter (PNG, or
# JPEG with --unlabeled-format jpeg: faster to decode) or the synthetic generator
# (tools/dataset_converters/make_synthetic_potsdam.py).
#
# Input pipeline (docs/input_pipeline.md): the loader workers decode, crop and flip; PhotometricAugment only
# draws each view's jitter/grayscale/blur parameters, and BatchAugmentSelfSupDataPreprocessor applies them to
# the batch on the GPU. To run the photometric transforms per image on the CPU instead (the all-CPU pipeline):
#   python tools/train.py CONFIG --augment-on-cpu
dataset_type = 'UnlabeledImageFolder'
data_root = 'data/potsdam'

view_pipeline = [
    # mmpretrain's RandomResizedCrop(backend='pillow') within one uint8 level, ~3x faster
    dict(type='FastRandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5),
]
photometric_transforms = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PhotometricAugment', transforms=photometric_transforms, on_device=True),
    dict(type='PackInputs', algorithm_keys=['photometric_params', 'photometric_recipe']),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    # workers restart every epoch from seeds of the (checkpointed) main process, so --resume repeats the
    # augmentations of an uninterrupted run; persistent workers would carry their streams across epochs
    persistent_workers=False,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='unlabeled', pipeline=train_pipeline))
# with on_corrupt='skip', logs once per epoch how many corrupt images all workers and ranks skipped
custom_hooks = [dict(type='CorruptImageReportHook')]
