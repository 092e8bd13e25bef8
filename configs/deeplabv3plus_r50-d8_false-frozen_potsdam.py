# FALSE's own downstream protocol (its MMSeg 0.x configs): DeepLabV3+ on an output-stride-8 ResNet-50
# whose weights and BN statistics stay FROZEN at the FALSE pre-training; only the heads train.
# 256x256 crops, batch 16, SGD 0.01 with poly decay, 1300 iterations, mIoU evaluated at the end.
# Difference: the official configs used a 7-class dataset with label 0 trained as a class; here mmseg's
# Potsdam coding is used (label 0 = boundary/ignore, reduce_zero_label=True, 6 classes).
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    '_base_/datasets/potsdam_checked.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

pretrained_backbone = 'work_dirs/false_r50_potsdam/backbone.pth'
crop_size = (256, 256)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(type='ResNet', depth=50, frozen_stages=4, norm_eval=True,
                  norm_cfg=dict(type='BN', requires_grad=False),
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6))

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True),
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin'),  # checked; see _base_/datasets/potsdam_checked.py
    dict(type='Resize', scale=crop_size, keep_ratio=True),
    dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005), clip_grad=None)
max_iters = 1300
# no `end`: the decay ends with the run, also a shortened one (docs/reliability.md)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='ResumableCheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
# the data base's input check, and the run-length report of the schedule
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='BandCountCheckHook'),
                dict(type='ScheduleLengthHook', max_iters=max_iters)]
randomness = dict(seed=0)
