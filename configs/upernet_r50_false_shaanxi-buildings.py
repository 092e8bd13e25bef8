# UperNet building extraction on the Shaanxi buildings (background / building, 512 crops, 4 GPUs x 4 images,
# 40k iterations: our choice, the SDCluster paper's fine-tuning schedule is not published) from the
# FALSE-pre-trained ResNet-50.
#
# Export the backbone first (the path below is what that command writes):
#   python tools/export_backbone.py work_dirs/false_r50_potsdam/epoch_200.pth \
#       work_dirs/false_r50_potsdam/backbone.pth --target-config configs/upernet_r50_false_shaanxi-buildings.py
# The SSL backbone is torchvision-style, so this uses plain `ResNet`, not mmseg's deep-stem `ResNetV1c`, and
# `pretrained=None` so the ImageNet V1c weights of the base config are not requested.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '_base_/datasets/shaanxi_buildings.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_40k.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

pretrained_backbone = 'work_dirs/false_r50_potsdam/backbone.pth'
crop_size = (512, 512)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(type='ResNet', depth=50,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    decode_head=dict(num_classes=2),
    auxiliary_head=dict(num_classes=2))
# keep the checkpoint with the best building IoU
default_hooks = dict(checkpoint=dict(save_best='IoU.building', rule='greater'))
