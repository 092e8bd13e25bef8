# FALSE pre-training (configs/false_r50_potsdam.py: model, views, schedule) on random 512 px windows read
# straight from whole scenes instead of pre-cut crops: RandomWindowDataset (docs/datasets.md#random-windows-of-
# whole-scenes) draws each window from the scene files, so the Potsdam tiles need no cutting. Data: the 24
# training tiles of 2_Ortho_RGB.zip in data/potsdam_tiles (top_potsdam_<i>_<j>_RGB.tif as extracted, or
# rewritten tiled, which reads faster: docs/datasets.md#which-raster-layout-to-write), or any folder of scenes.
#
# An epoch is 3456 windows, as many as the converter's 512 px crops of those tiles, so the 200 epochs of the
# schedule keep their length; every epoch draws new windows (RandomWindowEpochHook hands the dataset the
# epoch), and windows with more than half of their pixels without data are drawn again.
_base_ = './false_r50_potsdam.py'

train_dataloader = dict(
    dataset=dict(_delete_=True, type='RandomWindowDataset', data_root='data/potsdam_tiles', epoch_length=3456,
                 window_size=512, pipeline={{_base_.train_pipeline}}))  # the loader step converts each window
custom_hooks = [dict(type='SSLMonitorHook', interval=50),
                dict(type='ScheduleLengthHook', max_epochs={{_base_.max_epochs}}),
                dict(type='RandomWindowEpochHook')]
