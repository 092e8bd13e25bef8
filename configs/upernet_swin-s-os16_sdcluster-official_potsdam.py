# UperNet on the officially released SDCluster Swin-S (Million-AID) on ISPRS Potsdam.
# Convert the release first (the path below is what this command writes):
#   python tools/model_converters/convert_official.py Swin-S.pt pretrain/sdcluster_swin-s_official.pth \
#       --format sdcluster-swin --target-config configs/upernet_swin-s-os16_sdcluster-official_potsdam.py
_base_ = 'upernet_swin-s-os16_random_potsdam.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.',
                                         checkpoint='pretrain/sdcluster_swin-s_official.pth')))
