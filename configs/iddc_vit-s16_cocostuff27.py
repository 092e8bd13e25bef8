# IDDC (Liu, Zhang and Tang, IJCV 2024) with a frozen DINO ViT-S/16 on COCO-Stuff-27, official settings:
# head Conv3x3-ReLU-Conv1x1-ReLU + 1x1 classifier to 27 clusters; loss weights w0 1.4, w1 0.4, gates
# 0.2 / 0.12; Adam 5e-4 without weight decay, (1 - epoch/20)^0.9 decay stepped per epoch, 20 epochs,
# batch 64 (one GPU). The linear probe (Adam 1e-3 in the official code) is a diagnostic on detached features.
# Evaluation: sliding window 224 / stride 149 with flip averaging, Hungarian matching at 320x320.
# Backbone weights: tools/model_converters/convert_official.py dino_deitsmall16_pretrain.pth \
#     pretrain/dino_vit-s16.pth --format dino-vit --target-config configs/iddc_vit-s16_cocostuff27.py
_base_ = [
    '_base_/datasets/coco_stuff27_iddc.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

pretrained_backbone = 'pretrain/dino_vit-s16.pth'
model = dict(
    type='IDDC',
    data_preprocessor=dict(type='MultiViewSegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size=(224, 224), pad_val=0,
                           seg_pad_val=255),
    # mmpretrain's ViT with DINO's position-embedding interpolation (+0.1 offset): at inputs other than
    # 224 px (e.g. the 320 px validation) its tokens equal the official model's
    backbone=dict(type='mmpretrain.DINOVisionTransformer', _scope_='mmpretrain', arch='deit-small', patch_size=16,
                  img_size=224, qkv_bias=True, out_type='featmap', final_norm=True, interpolate_offset=0.1,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    head=dict(type='IDDCHead', in_channels=384, num_clusters=27),
    loss=dict(negative_weight=1.4, balance_weight=0.4, positive_gate=0.2, negative_gate=0.12,
              num_negative_shifts=3),
    probe_classes=27,
    test_cfg=dict(mode='slide', crop_size=(224, 224), stride=(149, 149), flip=True))

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-4, weight_decay=0.0),
                     paramwise_cfg=dict(custom_keys={'probe': dict(lr_mult=2.0)}))
# lr = 5e-4 * (1 - epoch / max_epochs)^0.9 for epochs 0..max_epochs-1, the official decay, over the run's
# length (no `end`: mmengine ends it with the run; docs/reliability.md). begin=-1 lengthens mmengine's PolyLR,
# which reaches eta_min at its last epoch, by one epoch: the official LR reaches 0 one epoch after the run
max_epochs = 20
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, begin=-1, by_epoch=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # the official code keeps the epoch with the best val mIoU; the last one is kept as well
    checkpoint=dict(type='ResumableCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=1,
                    save_best='hungarian/mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
custom_hooks = [dict(type='ScheduleLengthHook', max_epochs=max_epochs)]
randomness = dict(seed=1)
