# IDDC with a frozen DINO ViT-S/8 on Potsdam-3: the ViT-S/16 Potsdam-3 config with the ViT-S/8 changes
# (patch size 8, balance weight w1 0.25, seed 100).
_base_ = ['./iddc_vit-s16_potsdam3.py']

pretrained_backbone = 'pretrain/dino_vit-s8.pth'
model = dict(
    backbone=dict(patch_size=8, init_cfg=dict(checkpoint=pretrained_backbone)),
    loss=dict(balance_weight=0.25))
randomness = dict(seed=100)
