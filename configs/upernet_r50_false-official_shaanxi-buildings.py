# UperNet R50 from a FALSE checkpoint of the official (VISSL) code on the Shaanxi buildings. Convert the
# checkpoint first, as in upernet_r50_false-official_potsdam.py.
_base_ = 'upernet_r50_random_shaanxi-buildings.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='pretrain/false_r50_official.pth',
                                         prefix='backbone.')))
