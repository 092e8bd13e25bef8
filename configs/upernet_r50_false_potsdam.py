# UperNet fine-tuning on ISPRS Potsdam (6 classes, mmseg's converted layout and pipeline, 512 crops,
# 4 GPUs x 4 images, 80k iterations) from the FALSE-pre-trained ResNet-50.
#
# Export the backbone first (the path below is what that command writes):
#   python tools/export_backbone.py work_dirs/false_r50_potsdam/epoch_200.pth \
#       work_dirs/false_r50_potsdam/backbone.pth --target-config configs/upernet_r50_false_potsdam.py
# The SSL backbone is torchvision-style, so this uses plain `ResNet`, not mmseg's deep-stem `ResNetV1c`,
# and `pretrained=None` so the ImageNet V1c weights of the base config are not requested.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '_base_/datasets/potsdam_checked.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['rs_ssl_plugin'], allow_failed_imports=False)

pretrained_backbone = 'work_dirs/false_r50_potsdam/backbone.pth'
crop_size = (512, 512)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(type='ResNet', depth=50,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')),
    decode_head=dict(num_classes=6),
    auxiliary_head=dict(num_classes=6))
