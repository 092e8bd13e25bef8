# UperNet on the output-stride-16 Swin-S pre-trained with SDCluster (this plugin) on the Shaanxi buildings.
# Convert the pre-training checkpoint first, as in upernet_swin-s-os16_sdcluster_potsdam.py.
_base_ = 'upernet_swin-s-os16_random_shaanxi-buildings.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.',
                                         checkpoint='work_dirs/sdcluster_swin-s_millionaid/backbone.pth')))
