# UperNet on SDCluster's output-stride-16 Swin-S (strides 4, 8, 16, 16; UperNet's FPN brings every level
# to stride 4, so the OS16 outputs need no change) with mmseg's Swin UperNet heads.
_base_ = 'mmseg::_base_/models/upernet_swin.py'

model = dict(
    pretrained=None,
    backbone=dict(_delete_=True, type='SwinTransformerOS16', embed_dim=96, depths=(2, 2, 18, 2),
                  num_heads=(3, 6, 12, 24), window_size=7, drop_path_rate=0.3, out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
