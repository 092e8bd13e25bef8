# IDDC with a frozen DINO ViT-S/16 on Potsdam-3 (roads and cars / buildings and clutter / vegetation and
# trees), in mmseg's Potsdam layout (mmseg's converter, or tools/dataset_converters/potsdam_iic.py for the
# IIC/STEGO benchmark crops). Method settings as on COCO-Stuff-27; the official code has no Potsdam config,
# so these are not tuned. For Potsdam-6 use type='CheckedPotsdamDataset', num_classes=6 below and
# head.num_clusters=6, probe_classes=6.
_base_ = ['./iddc_vit-s16_cocostuff27.py']

dataset_type = 'Potsdam3Dataset'
data_root = 'data/potsdam'
num_classes = 3
crop_size = 224
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations', num_classes=num_classes),
    dict(type='RandomFlip', prob=0.5),
    dict(type='AnisotropicRandomResize', ratio_range=(0.8, 1.2), min_size=crop_size),
    dict(type='OverlappingCropPair', crop_size=crop_size),
    dict(type='PackSegInputs'),
]
# mmseg's own LoadAnnotations here: mmseg.apis.inference_model (used by tools/vis_cluster.py) removes it
# to predict on unlabelled images
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'), pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    _delete_=True, type=dataset_type, data_root=data_root,
    data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'), pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(head=dict(num_clusters=num_classes), probe_classes=num_classes)
