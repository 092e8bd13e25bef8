# SDSH (Qiao et al., GRSL): self-distilled self-supervised hashing, DINOv2 ViT-S/14, AID, 64-bit codes.
# Official recipe (syuan8889/SDSH dinov2/configs/ssl_default_config.yaml): batch 64 per GPU, 100 "epochs"
# of 80 iterations (8,000 iterations), AdamW with lr = 1e-3 * sqrt(global_batch / 1024) (2.5e-4 on one
# GPU), 10 warm-up epochs, cosine to 1e-6; evaluation (mAP over the whole database) every epoch.
# Pretrained weights: python tools/model_converters/convert_official.py dinov2_vits14_pretrain.pth \
#     pretrain/dinov2_vits14_224.pth --format dinov2-vit
# Data: data/AID/<class>/<image>; first half of each class (sorted names) = training set = database.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

data_root = 'data/AID'
dataset_type = 'AIDRetrieval'
epoch_length = 80  # the official OFFICIAL_EPOCH_LENGTH: 80 for AID, 30 for UCMD
epochs = 100

model = dict(
    type='SDSH',
    # SelfSupDataPreprocessor that also runs SDSHMultiCrop's photometric augmentations on the batch
    data_preprocessor=dict(type='BatchAugmentSelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True, non_blocking=True),
    backbone=dict(
        type='SDSHViT', arch='dinov2-small', img_size=224, local_img_size=98, patch_size=14, hash_bits=64,
        drop_path_rate=0.05, layer_scale_init_value=1e-5, interpolate_offset=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='pretrain/dinov2_vits14_224.pth', prefix='backbone.')),
    dino_head=dict(type='SDSHDINOHead', num_prototypes=65536, hidden_channels=2048, bottleneck_channels=256,
                   num_layers=3),
    ibot_head=dict(type='SDSHDINOHead', num_prototypes=65536, hidden_channels=2048, bottleneck_channels=256,
                   num_layers=3),
    # The released default config; the official koleoloss*/regloss* sweeps use ibot=0.1, koleo=0.01,
    # hash_reg=0.01 (the paper's final values are not public).
    loss_weights=dict(dino=1.0, ibot=1.0, koleo=0.0, hash_reg=0.01),
    student_temp=0.1,
    center_momentum=0.9)

# Crops and flips in the loader workers; the colour jitter, grayscale, blur and solarisation of each view run on
# the GPU (BatchAugmentSelfSupDataPreprocessor, docs/input_pipeline.md). All on the CPU, per image:
#   python tools/train.py CONFIG --augment-on-cpu
train_pipeline = [
    dict(type='CheckedLoadImageFromFile', expected_channels=(1, 3)),  # grey scenes become RGB
    # corrected_blur=True gives DINOv2's intended blur probabilities (1.0, 0.1, 0.5) instead of the
    # released recipe's effective (0.0, 0.9, 0.5)
    dict(type='SDSHMultiCrop', global_size=224, local_size=98, num_local=8, global_scale=(0.6, 1.0),
         local_scale=(0.05, 0.5), corrected_blur=False, solarize_prob=0.2, on_device=True),
    dict(type='PackInputs', algorithm_keys=['photometric_params', 'photometric_recipe']),
]
eval_pipeline = [
    dict(type='CheckedLoadImageFromFile', expected_channels=(1, 3)),  # grey scenes become RGB
    dict(type='MultiView', num_views=1, transforms=[[
        dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=224),
    ]]),
    dict(type='PackInputs', algorithm_keys=('is_query', )),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    # iBOT block masks for half of the 2B global crops, ratios spread over [0.1, 0.6]
    collate_fn=dict(type='sdsh_collate', mask_grid=(16, 16), mask_probability=0.5, mask_ratio_range=(0.1, 0.6),
                    min_mask_patches=4, max_mask_patches=128),
    dataset=dict(type=dataset_type, data_root=data_root, split='database', pipeline=train_pipeline))
# Database (= training split) and queries in one dataset; the metric runs in one process on the gathered
# results, so it is exact under distributed evaluation too.
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='all', pipeline=eval_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='RetrievalMetric', map_topk=(100, ), precision_at=(10, 50, 100))
test_evaluator = val_evaluator

# lr and weight decay of every group are set each iteration by SDSHScheduleHook from the multipliers:
# layer-wise decay 0.9, patch embedding x0.2, no weight decay on bias/norm/layer scale; gradients clipped
# to 3.0 separately for the backbone and each head.
optim_wrapper = dict(
    type='SDSHOptimWrapper',
    constructor='SDSHOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=0., betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(layer_decay=0.9, patch_embed_lr_mult=0.2),
    clip_grad=dict(max_norm=3.0))
param_scheduler = []
custom_hooks = [
    dict(type='SDSHScheduleHook', epoch_length=epoch_length, epochs=epochs, base_lr=1e-3, min_lr=1e-6, warmup_epochs=10,
         weight_decay=0.04, weight_decay_end=0.4, freeze_last_layer_epochs=1, momentum=0.992,
         final_momentum=1.0, warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=30),
    # collapse monitor of the student's hash codes (docs/evaluation.md)
    dict(type='SSLMonitorHook', interval=epoch_length),
]

train_cfg = dict(type='IterBasedTrainLoop', max_iters=epochs * epoch_length, val_interval=epoch_length)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    # the official run keeps the checkpoint with the best query mAP (model selection on the test queries)
    # (ResumableCheckpointHook: checkpoints that resume exactly, docs/reliability.md)
    checkpoint=dict(type='ResumableCheckpointHook', by_epoch=False, interval=epoch_length * 10,
                    max_keep_ckpts=1, save_best='retrieval/mAP', rule='greater'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
