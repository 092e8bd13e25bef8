# UperNet on the output-stride-16 Swin-S pre-trained with SDCluster (this plugin) on ISPRS Potsdam.
# Export the teacher backbone first (the path below is what this command writes):
#   python tools/model_converters/convert_official.py \
#       work_dirs/sdcluster_swin-s_millionaid/epoch_100.pth work_dirs/sdcluster_swin-s_millionaid/backbone.pth \
#       --format sdcluster-swin --target-config configs/upernet_swin-s-os16_sdcluster_potsdam.py
_base_ = 'upernet_swin-s-os16_random_potsdam.py'

model = dict(backbone=dict(init_cfg=dict(type='Pretrained', prefix='backbone.',
                                         checkpoint='work_dirs/sdcluster_swin-s_millionaid/backbone.pth')))
