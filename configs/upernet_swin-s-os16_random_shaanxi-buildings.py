# UperNet on the output-stride-16 Swin-S from random init on the Shaanxi buildings (background / building,
# 512 crops, 4 GPUs x 4 images, 40k iterations as the R50 Shaanxi configs, mmseg's Swin AdamW recipe): the
# baseline of the SDCluster rows of the fine-tuning matrix.
_base_ = [
    '_base_/models/upernet_swin-s-os16.py',
    '_base_/datasets/shaanxi_buildings.py',
    'mmseg::_base_/default_runtime.py',
    '_base_/schedules/swin_adamw_40k.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

crop_size = (512, 512)
model = dict(data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=2),
             auxiliary_head=dict(num_classes=2))
# keep the checkpoint with the best building IoU; checkpoints that resume exactly (random states, atomic
# writes; rs_ssl_plugin/engine/hooks.py) with a fixed seed, so a killed run continued with --resume repeats
# the uninterrupted one (docs/reliability.md)
default_hooks = dict(checkpoint=dict(type='ResumableCheckpointHook', save_best='IoU.building', rule='greater'))
randomness = dict(seed=0)
# the data base's input check, and the run-length report of the schedule written for 40000 iterations
# (docs/reliability.md)
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='BandCountCheckHook'),
                dict(type='ScheduleLengthHook', max_iters=40000)]
