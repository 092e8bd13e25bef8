# IDDC with a frozen DINO ViT-S/16 on Potsdam-3 (roads and cars / buildings and clutter / vegetation and
# trees), in mmseg's Potsdam layout (mmseg's converter, or tools/dataset_converters/potsdam_iic.py for the
# IIC/STEGO benchmark crops). Method settings and pipelines as on COCO-Stuff-27; the official code has no
# Potsdam config, so these are not tuned. For Potsdam-6 use type='CheckedPotsdamDataset' below and
# head.num_clusters=6, probe_classes=6.
_base_ = ['./iddc_vit-s16_cocostuff27.py']

dataset_type = 'Potsdam3Dataset'
data_root = 'data/potsdam'
num_classes = 3
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                                     data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train')))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, ann_file='',
                                   data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val')))
test_dataloader = val_dataloader

model = dict(head=dict(num_clusters=num_classes), probe_classes=num_classes)
