# FALSE pre-training of ResNet-50 on unlabeled Potsdam crops with the official hyperparameters
# (GeoX-Lab/FALSE configs/config/pretrain/FALSE/false_1gpu_resnet.yaml).
#
# Batch and learning rate: the official run is ONE GPU x 256 images (512 views), LARC with a peak LR of
# 4.8 and no auto-scaling. `train_dataloader.batch_size` is per GPU. The loss is computed on the batch
# gathered from all GPUs, so `tools/train.sh configs/false_r50_potsdam.py 4
#   --cfg-options train_dataloader.batch_size=64` is the official run spread over 4 GPUs. Run verbatim on
# G GPUs the global batch is 256*G; to scale the LR linearly with it (lr = 4.8 * global_batch / 256) add
# `--cfg-options auto_scale_lr.enable=True`.
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '_base_/datasets/potsdam_unlabeled_simclr.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

model = dict(
    type='FALSE',
    # SelfSupDataPreprocessor that also runs the pipeline's photometric augmentations on the batch
    data_preprocessor=dict(type='BatchAugmentSelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True, non_blocking=True),
    # torchvision-layout ResNet-50 from random init; VISSL keeps the last BN of each block at 1
    backbone=dict(type='ResNet', depth=50, norm_cfg=dict(type='SyncBN'), zero_init_residual=False),
    # Linear(2048, 2048) -> Linear(2048, 128): the released config has no ReLU in between
    # (with_relu=True gives the SimCLR-v1 head)
    neck=dict(type='LinearProjectionNeck', in_channels=2048, hid_channels=2048, out_channels=128,
              with_relu=False),
    # sentinel=inf is the intended selection; 3.0 reproduces the official code's degenerate case
    head=dict(type='FALSEHead', temperature=0.5, confidence_weight=1.0, positive_threshold=0.9,
              sentinel=float('inf')),
)

# apex LARC(trust 0.001, clip=False) over SGD(momentum 0.9, wd 1e-6) on every tensor; no weight decay
# on BN (regularize_bn: False), biases keep it (regularize_bias: True)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARC', lr=4.8, momentum=0.9, weight_decay=1e-6, trust_coefficient=0.001,
                   eps=1e-8),
    paramwise_cfg=dict(norm_decay_mult=0.0))

max_epochs = 200
# 0.6 -> 4.8 linear warm-up over 10 %, then VISSL's adaptive full-wave cosine restarts down to 0.0048; no `end`:
# the curve spans the run (train_cfg.max_epochs), squeezed into a shortened one (docs/reliability.md)
param_scheduler = [dict(type='VISSLCosineRestartLR', by_epoch=True, begin=0, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256, enable=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='ResumableCheckpointHook', interval=10, max_keep_ckpts=3))
randomness = dict(seed=0)
# the data base's report of skipped corrupt images, and the collapse monitor: std of the normalised
# embeddings, mean pairwise cosine, effective rank (docs/evaluation.md), and the one-line report
# of a schedule squeezed into a run shorter than max_epochs
custom_hooks = [dict(type='CorruptImageReportHook'), dict(type='SSLMonitorHook', interval=50),
                dict(type='ScheduleLengthHook', max_epochs=max_epochs)]
