# SDCluster pre-training (configs/sdcluster_swin-s_millionaid.py: model, views, schedule) on random windows of
# georeferenced scenes of any size and resolution (RandomWindowDataset, docs/datasets.md#random-windows-of-whole-
# scenes): every window covers 256 m x 256 m and is resampled to 0.5 m per pixel (512 px), so scenes of 5 cm,
# 30 cm or 1 m feed the model at one scale. Every scene needs a projected CRS and geotransform.
# Data: any folder tree of GeoTIFFs at data/geotiff_scenes (best tiled, ZSTD-compressed: docs/datasets.md).
#
# An epoch is 100,000 windows (our choice, about a tenth of Million-AID's images); every epoch draws new
# windows (RandomWindowEpochHook).
_base_ = './sdcluster_swin-s_millionaid.py'

train_dataloader = dict(
    dataset=dict(_delete_=True, type='RandomWindowDataset', data_root='data/geotiff_scenes', epoch_length=100_000,
                 window_size=512, gsd=0.5, pipeline={{_base_.train_pipeline}}))
custom_hooks = [dict(type='SSLMonitorHook', interval=50),
                dict(type='ScheduleLengthHook', max_epochs={{_base_.max_epochs}},
                     method_schedules=['teacher momentum']),
                dict(type='RandomWindowEpochHook')]
