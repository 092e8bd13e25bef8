# Unlabeled images for SDCluster pre-training with the official views (pretrain/data/transforms.py): two
# 224 crops (scale 0.25-1, overlapping by more than 2 % of the image), no local crops (num_local=0 as
# released; 96 px crops of scale 0.05-0.25 when enabled), each view flipped (p=0.5) with its overlap boxes
# mirrored, then colour jitter (0.4, 0.4, 0.2, 0.1; p=0.8), grayscale (p=0.2) and Gaussian blur
# (sigma 0.1-2; p=0.5) independently per view. ImageNet normalisation is done by the data preprocessor.
# data_root/data_prefix is any folder tree of images, e.g. Million-AID's class folders.
#
# Input pipeline (docs/input_pipeline.md): the loader workers decode, crop (PIL-equivalent antialiased resize)
# and flip; PhotometricAugment only draws each view's jitter/grayscale/blur parameters, and
# BatchAugmentSelfSupDataPreprocessor applies them to the batch on the GPU. All on the CPU, per image:
#   python tools/train.py CONFIG --augment-on-cpu
dataset_type = 'UnlabeledImageFolder'
data_root = 'data/million_aid'

photometric_transforms = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='OverlappingMultiCrop', num_global=2, num_local=0, global_size=224, local_size=96,
         global_scale=(0.25, 1.0), local_scale=(0.05, 0.25), min_intersection=0.01),
    dict(type='RandomFlipViews', prob=0.5),
    dict(type='PhotometricAugment', transforms=photometric_transforms, on_device=True),
    dict(type='PackInputs',
         algorithm_keys=['gc_bboxes', 'otc_bboxes', 'flip_flags', 'photometric_params', 'photometric_recipe']),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    # workers restart every epoch from seeds of the (checkpointed) main process, so --resume repeats the
    # augmentations of an uninterrupted run; persistent workers would carry their streams across epochs
    persistent_workers=False,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='', pipeline=train_pipeline))
# with on_corrupt='skip', logs once per epoch how many corrupt images all workers and ranks skipped
custom_hooks = [dict(type='CorruptImageReportHook')]
