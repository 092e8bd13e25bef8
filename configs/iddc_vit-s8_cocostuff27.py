# IDDC with a frozen DINO ViT-S/8 on COCO-Stuff-27: as the ViT-S/16 config, with 28x28 feature maps,
# balance weight w1 0.25 and seed 100 (official).
# Backbone weights: convert dino_deitsmall8_300ep_pretrain.pth with --format dino-vit.
_base_ = ['./iddc_vit-s16_cocostuff27.py']

pretrained_backbone = 'pretrain/dino_vit-s8.pth'
model = dict(
    backbone=dict(patch_size=8, init_cfg=dict(checkpoint=pretrained_backbone)),
    loss=dict(balance_weight=0.25))
randomness = dict(seed=100)
