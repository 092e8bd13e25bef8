# UperNet R50 (torchvision-style ResNet) from random init on the Shaanxi buildings: the baseline of the FALSE
# rows of the fine-tuning matrix. Same data and schedule as upernet_r50_false_shaanxi-buildings.py.
_base_ = 'upernet_r50_false_shaanxi-buildings.py'

model = dict(backbone=dict(init_cfg=None))
