# Shaanxi building extraction (SDCluster's practical-application data): background / building, binary masks
# stored as 0/255 or 0/1 (PNG or GeoTIFF), RGB images. Split lists ("<image> <mask>" per line, relative to
# data_root) come from
#   python tools/dataset_converters/split_dataset.py data/shaanxi_buildings --img-dir images --mask-dir masks
# (seeded 0.6/0.2/0.2 by default). The evaluator reports the building-class IoU, F1, precision and recall
# (IoU.building, F1.building, ...) and the overall accuracy (aAcc), plus the means over both classes.
dataset_type = 'ShaanxiBuildingsDataset'
data_root = 'data/shaanxi_buildings'
crop_size = (512, 512)
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadBinaryMask'),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# CheckedLoadImageFromFile under mmseg's step name, for mmseg's inference clients (see potsdam_checked.py)
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin'),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='CheckedLoadBinaryMask'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='splits/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='splits/val.txt', pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='splits/test.txt', pipeline=test_pipeline))
val_evaluator = dict(type='PerClassSegMetric')
# decode_head/auxiliary_head num_classes must equal the dataset's class count, and the data preprocessor's
# mean/std count the images' band count: checked before training and testing
# (rs_ssl_plugin/engine/num_classes_check.py, band_count_check.py)
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='BandCountCheckHook')]
test_evaluator = val_evaluator
