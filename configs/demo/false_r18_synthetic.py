# A short FALSE pre-training on the embedded synthetic Potsdam-like scenes (make demo): FALSE's loss, views,
# optimiser and LR curve at the CPU scale of docs/false.md#cpu-scale-recipe, where each difference from the
# paper's recipe is named and justified: ResNet-18, 64 px views, batch 64, float32 in the channels-last layout,
# augmentation in the loader, temperature 0.1, LARC's peak learning rate not scaled down with the batch, and
# the BatchNorm projection head.
_base_ = '../false_r50_potsdam.py'

data_root = 'data/synthetic_potsdam'
batch_size = 64
view_pipeline = [
    dict(type='FastRandomResizedCrop', scale=64),
    dict(type='RandomFlip', prob=0.5),
]
photometric_transforms = {{_base_.photometric_transforms}}  # FALSE's jitter, grayscale and blur
# on a CPU-only run the photometric transforms cost less per image in the loader than in the batched device
# stage (docs/benchmarks.md#training-on-the-cpu)
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PhotometricAugment', transforms=photometric_transforms, on_device=False),
    # the drawn parameters, when PhotometricAugment(on_device=True) leaves them to the data preprocessor
    dict(type='PackInputs', algorithm_keys=['photometric_params', 'photometric_recipe']),
]
train_dataloader = dict(batch_size=batch_size, num_workers=2, persistent_workers=False, pin_memory=False,  # CPU demo
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
# the BatchNorm head and T=0.1 (mmpretrain's SimCLR uses both), chosen on these synthetic scenes, never on
# the real imagery the benchmarks report
model = dict(backbone=dict(depth=18, norm_cfg=dict(type='BN')),
             neck=dict(in_channels=512, hid_channels=512, with_relu=True, norm_cfg=dict(type='BN1d')),
             head=dict(temperature=0.1))
# LARC's step is lr * trust_coefficient relative to each weight's norm whatever the batch; the paper's linear
# scaling to this batch (4.8 * 64 / 256) left the probe below random init after 120 iterations, 4.8 above it
optim_wrapper = dict(optimizer=dict(lr=4.8))
max_epochs = 30  # the LR curve of the base config spans the run
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# the collapse monitor every 40 iterations; convolutions channels-last (1.4x faster in float32 on the CPU)
custom_hooks = [dict(type='CorruptImageReportHook'), dict(type='SSLMonitorHook', interval=40),
                dict(type='ChannelsLastHook'), dict(type='ScheduleLengthHook', max_epochs=max_epochs)]
