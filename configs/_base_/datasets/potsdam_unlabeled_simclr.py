# Unlabeled Potsdam crops for two-view contrastive pre-training with the SimCLR/VISSL augmentations that
# FALSE uses: RandomResizedCrop(224) -> flip -> colour jitter (0.8, 0.8, 0.8, 0.2; p=0.8) -> grayscale
# (p=0.2) -> Gaussian blur (sigma 0.1-2.0, p=0.5), each view independently.
# data_root/unlabeled is any folder tree of image crops, e.g. the crops of the Potsdam converter or the
# synthetic generator (tools/dataset_converters/make_synthetic_potsdam.py).
dataset_type = 'UnlabeledImageFolder'
data_root = 'data/potsdam'

view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    # workers restart every epoch from seeds of the (checkpointed) main process, so --resume repeats the
    # augmentations of an uninterrupted run; persistent workers would carry their streams across epochs
    persistent_workers=False,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='unlabeled', pipeline=train_pipeline))
