# UperNet on the officially released SDCluster Swin-S (Million-AID) on the Shaanxi buildings, the paper's
# practical-application data. Convert the release first, as in upernet_swin-s-os16_sdcluster-official_potsdam.py.
_base_ = 'upernet_swin-s-os16_random_shaanxi-buildings.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.',
                                         checkpoint='pretrain/sdcluster_swin-s_official.pth')))
