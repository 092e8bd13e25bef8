# UperNet on a plain torchvision-style ResNet-50 (7x7 stem, as the SSL backbones and their exports), not
# mmseg's deep-stem `ResNetV1c`, and `pretrained=None` so the ImageNet V1c weights of mmseg's base are not
# requested. Load pre-trained weights with backbone.init_cfg=dict(type='Pretrained', prefix='backbone.', ...).
_base_ = 'mmseg::_base_/models/upernet_r50.py'

model = dict(pretrained=None, backbone=dict(type='ResNet', depth=50))
