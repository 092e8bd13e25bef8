# A short FALSE pre-training on the embedded synthetic Potsdam-like scenes (make demo): ResNet-18,
# 96 px views, a few hundred images, CPU-friendly. Same method, optimiser and LR curve as the full config.
_base_ = '../false_r50_potsdam.py'

data_root = 'data/synthetic_potsdam'
batch_size = 32
view_pipeline = [
    dict(type='FastRandomResizedCrop', scale=96),
    dict(type='RandomFlip', prob=0.5),
]
photometric_transforms = {{_base_.photometric_transforms}}  # FALSE's jitter, grayscale and blur
# photometric augmentation on the batch (here the CPU, in the main process); on_device=False (tools/train.py
# --augment-on-cpu) runs it per image in the loader workers instead
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PhotometricAugment', transforms=photometric_transforms, on_device=True),
    dict(type='PackInputs', algorithm_keys=['photometric_params', 'photometric_recipe']),
]
train_dataloader = dict(batch_size=batch_size, num_workers=2, persistent_workers=False, pin_memory=False,  # CPU demo
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
model = dict(backbone=dict(depth=18), neck=dict(in_channels=512, hid_channels=512))
# the official LR is for 256 images; scale linearly to this batch
optim_wrapper = dict(optimizer=dict(lr=4.8 * batch_size / 256))
max_epochs = 8
param_scheduler = [
    dict(type='VISSLCosineRestartLR', by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# the collapse monitor once per epoch (8 iterations)
custom_hooks = [dict(type='CorruptImageReportHook'), dict(type='SSLMonitorHook', interval=8)]
