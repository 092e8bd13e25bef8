# UperNet fine-tuning on the embedded synthetic Potsdam-like scenes (make demo) from the exported
# FALSE ResNet-18: 128 px crops, 300 iterations on CPU. The demo passes the exported backbone
# with --cfg-options model.backbone.init_cfg.checkpoint=...
_base_ = '../upernet_r50_false_potsdam.py'

data_root = 'data/synthetic_potsdam'
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=128, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=64, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin'),  # checked; see _base_/datasets/potsdam_checked.py
    dict(type='CheckedLoadAnnotations', num_classes=6, reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=False,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=2, persistent_workers=False,
                      dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 300  # the base's poly decay spans the run
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='BandCountCheckHook'),
                dict(type='ScheduleLengthHook', max_iters=max_iters)]
