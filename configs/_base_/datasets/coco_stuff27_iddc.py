# COCO-Stuff-27 for unsupervised segmentation (IDDC protocol): PiCIE curated splits (49,629 train /
# 2,175 val), fine stuffthingmaps labels merged into 27 classes by the dataset.
# Training: two overlapping 224 crops of one flipped, anisotropically resized image (no colour jitter);
# labels only feed the optional linear probe. Evaluation at native resolution; the metric resizes
# prediction and label to 320x320 (nearest) before the Hungarian-matched confusion matrix.
dataset_type = 'CocoStuff27Dataset'
data_root = 'data/cocostuff'
crop_size = 224
# COCO holds some greyscale JPEGs, which the loader turns into 3 channels like the official code; the label
# range check takes the dataset's class count
train_pipeline = [
    dict(type='CheckedLoadImageFromFile', expected_channels=(1, 3)),
    dict(type='CheckedLoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='AnisotropicRandomResize', ratio_range=(0.8, 1.2), min_size=crop_size),
    dict(type='OverlappingCropPair', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
# mmseg's own LoadAnnotations here: mmseg.apis.inference_model (used by tools/vis_cluster.py) removes it
# to predict on unlabelled images; the image loader is CheckedLoadImageFromFile under mmseg's step name, for
# the same clients (see potsdam_checked.py)
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin', expected_channels=(1, 3)),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# non-persistent training workers restart every epoch from seeds of the (checkpointed) main process, so
# --resume repeats the augmentations of an uninterrupted run
train_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=False, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/train2017', seg_map_path='annotations/train2017'),
                 ann_file='curated/train2017/Coco164kFull_Stuff_Coarse_7.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='images/val2017', seg_map_path='annotations/val2017'),
                 ann_file='curated/val2017/Coco164kFull_Stuff_Coarse_7.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
# eval_size=None evaluates at native resolution instead
val_evaluator = dict(type='HungarianIoUMetric', eval_size=(320, 320))
test_evaluator = val_evaluator
