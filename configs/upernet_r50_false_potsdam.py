# UperNet fine-tuning on ISPRS Potsdam (upernet_r50_random_potsdam.py: 6 classes, mmseg's pipeline, 512 crops,
# 4 GPUs x 4 images, 80k iterations) from the FALSE-pre-trained ResNet-50.
#
# Export the backbone first (the path below is what that command writes):
#   python tools/export_backbone.py work_dirs/false_r50_potsdam/epoch_200.pth \
#       work_dirs/false_r50_potsdam/backbone.pth --target-config configs/upernet_r50_false_potsdam.py
_base_ = 'upernet_r50_random_potsdam.py'

pretrained_backbone = 'work_dirs/false_r50_potsdam/backbone.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained_backbone, prefix='backbone.')))
