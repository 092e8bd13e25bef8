# UperNet R50 (torchvision-style ResNet) from random init on the Shaanxi buildings (background / building,
# 512 crops, 4 GPUs x 4 images, 40k iterations: our choice, the SDCluster paper's fine-tuning schedule is not
# published): the baseline of the FALSE rows of the fine-tuning matrix, and the parent of the pre-trained variants.
_base_ = [
    '_base_/models/upernet_r50_tv.py',
    '_base_/datasets/shaanxi_buildings.py',
    'mmseg::_base_/default_runtime.py',
    '_base_/schedules/sgd_poly_40k.py',
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
