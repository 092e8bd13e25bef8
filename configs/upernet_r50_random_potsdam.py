# UperNet R50 (torchvision-style ResNet, as the SSL backbones) from random init on ISPRS Potsdam: the
# baseline of the FALSE rows of the fine-tuning matrix. Same data and schedule as
# upernet_r50_false_potsdam.py.
_base_ = 'upernet_r50_false_potsdam.py'

model = dict(backbone=dict(init_cfg=None))
