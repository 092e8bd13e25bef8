# SDCluster pre-training of the output-stride-16 Swin-S with the official hyperparameters
# (openrsgis/SDCluster pretrain/config/config_pretrain.yaml and main_pretrain.py).
#
# Official run: 2 GPUs x 64 images, AdamW lr 1.25e-3 (not scaled with the batch), weight decay 0.05 on
# every parameter, 100 epochs with 20 of warm-up on timm's cosine curve, AMP.
#   tools/train.sh configs/sdcluster_swin-s_millionaid.py 2
# Data: any folder tree of images at data/million_aid (UnlabeledImageFolder).
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '_base_/datasets/unlabeled_sdcluster_views.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

model = dict(
    type='SDCluster',
    # SelfSupDataPreprocessor that also runs the pipeline's photometric augmentations on the batch
    data_preprocessor=dict(type='BatchAugmentSelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True, non_blocking=True),
    backbone=dict(type='SwinTransformerOS16', embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24),
                  window_size=7, drop_path_rate=0.2),
    # Conv1x1 768 -> 2048 -> 2048 -> 256 with GELU, no BatchNorm
    neck=dict(type='GELUMLP', in_channels=768, hidden_channels=2048, out_channels=256, dense=True),
    prototypes=dict(type='ClusterPrototypes', num_prototypes=256, dim=256, pool_temperature=0.07),
    predictor=dict(type='GELUMLP', in_channels=256, hidden_channels=2048, out_channels=256, dense=False),
    base_momentum=0.99,
    student_temperature=0.1,
    teacher_temperature=0.07,
    contrast_temperature=0.2,
    sinkhorn_iterations=3,
    distill_weight=0.5,
    # the official teacher runs in train mode (drop path 0.2 active); False runs it in eval mode
    teacher_drop_path=True,
)

# The official AMP: float16 autocast with a dynamic loss scale on GPUs (as mmengine's AmpOptimWrapper);
# without a GPU the same wrapper autocasts to bfloat16 (tools/train.py --no-amp trains in float32).
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.25e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05))

max_epochs = 100
# linear warm-up 2.5e-7 -> 1.25e-3 over 20 epochs, then timm's cosine on the absolute step down to 2.5e-7; no
# `end`: the curve spans the run (train_cfg.max_epochs), as the teacher momentum does (docs/reliability.md)
param_scheduler = [
    dict(type='TimmWarmupCosineLR', warmup_ratio=0.2, warmup_start_factor=2e-4, end_factor=2e-4, by_epoch=True,
         begin=0, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# the LR is not scaled with the batch in the official code (1.25e-3 at 2 x 64)
auto_scale_lr = dict(base_batch_size=128, enable=False)
# the last stage's unused channel-doubling Linear and the intermediate-stage norms get no gradient
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='ResumableCheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0)
# the data base's report of skipped corrupt images, and the collapse monitor: std of the normalised
# embeddings, mean pairwise cosine, effective rank (docs/evaluation.md), and the one-line report of schedules
# squeezed into a run shorter than max_epochs
custom_hooks = [dict(type='CorruptImageReportHook'), dict(type='SSLMonitorHook', interval=50),
                dict(type='ScheduleLengthHook', max_epochs=max_epochs, method_schedules=['teacher momentum'])]
