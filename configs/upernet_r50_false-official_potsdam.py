# UperNet R50 from a FALSE checkpoint of the official (VISSL) code on ISPRS Potsdam.
# Convert the checkpoint first (the path below is what this command writes):
#   python tools/model_converters/convert_official.py <FALSE VISSL checkpoint>.torch \
#       pretrain/false_r50_official.pth --format vissl-resnet \
#       --target-config configs/upernet_r50_false-official_potsdam.py
_base_ = 'upernet_r50_random_potsdam.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='pretrain/false_r50_official.pth',
                                         prefix='backbone.')))
