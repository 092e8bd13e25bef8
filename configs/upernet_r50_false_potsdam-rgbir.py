# UperNet on 4-band ISPRS Potsdam (R, G, B, IR; 6 classes, mmseg's split and 512 crops, 4 GPUs x 4 images,
# 80k iterations) from the ResNet-50 pre-trained with FALSE on 4-band crops (configs/false_r50_potsdam-rgbir.py).
#
# Export the backbone first:
#   python tools/export_backbone.py work_dirs/false_r50_potsdam-rgbir/epoch_200.pth \
#       work_dirs/false_r50_potsdam-rgbir/backbone.pth --target-config configs/upernet_r50_false_potsdam-rgbir.py
# To start from 3-band (RGB) weights instead, use
#   init_cfg=dict(type='ChannelAdaptedPretrained', checkpoint='<rgb backbone.pth>', prefix='backbone.')
# which copies the RGB filters of conv1, gives the IR band their mean and scales all by 3/4
# (rs_ssl_plugin/checkpoints/channel_adapt.py, docs/datasets.md).
_base_ = [
    '_base_/models/upernet_r50_tv.py',
    '_base_/datasets/potsdam_rgbir_checked.py',
    'mmseg::_base_/default_runtime.py',
    '_base_/schedules/sgd_poly_80k.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

# Per-band statistics in R, G, B, IR order, pixel values 0-255 (the converter reads the file bands in this
# order and nothing flips them). R, G, B: ImageNet's; IR: the mean of those. Replace all four with
# `train_band_statistics` from data/potsdam_rgbir/potsdam_manifest.json, and use the same values in
# pre-training.
band_mean = [123.675, 116.28, 103.53, 114.495]
band_std = [58.395, 57.12, 57.375, 57.63]
pretrained_backbone = 'work_dirs/false_r50_potsdam-rgbir/backbone.pth'
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(mean=band_mean, std=band_std, bgr_to_rgb=False, size=crop_size),
    backbone=dict(in_channels=4,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6))
# checkpoints that resume exactly (random states, atomic writes; rs_ssl_plugin/engine/hooks.py) with a
# fixed seed, so a killed run continued with --resume repeats the uninterrupted one (docs/reliability.md)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook'))
randomness = dict(seed=0)
# the data base's input check, and the run-length report of the schedule written for 80000 iterations
# (docs/reliability.md)
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='BandCountCheckHook'),
                dict(type='ScheduleLengthHook', max_iters=80000)]
