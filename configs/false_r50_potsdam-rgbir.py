# FALSE pre-training of a 4-band ResNet-50 (R, G, B, IR) on the unlabeled crops of
#   python tools/dataset_converters/potsdam.py <zips> -o data/potsdam_rgbir --bands rgbir
# with the official FALSE hyperparameters (configs/false_r50_potsdam.py). Band-agnostic views: the
# SimCLR colour jitter, random grey-scale and PIL blur are RGB-only, so each view gets RandomResizedCrop
# (OpenCV) -> flip -> RandomBandJitter (brightness/contrast 0.8 as SimCLR, per-band gains 0.2 in place of
# saturation/hue; p=0.8) -> RandomBandGaussianBlur (sigma 0.1-2.0, p=0.5). MultiBandSelfSupDataPreprocessor:
# per-band mean/std and no channel flip (mmengine's preprocessor takes only 3 values, mmpretrain's to_rgb
# swaps bands 0 and 2 whatever their number); it also runs the band jitter and blur on the batch (GPU), from
# the parameters PhotometricAugment draws. All on the CPU, per image:
#   python tools/train.py configs/false_r50_potsdam-rgbir.py --augment-on-cpu
_base_ = './false_r50_potsdam.py'

# R, G, B, IR order, 0-255; see configs/upernet_r50_false_potsdam-rgbir.py for where the values come from
band_mean = [123.675, 116.28, 103.53, 114.495]
band_std = [58.395, 57.12, 57.375, 57.63]
view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='cv2'),
    dict(type='RandomFlip', prob=0.5),
]
photometric_transforms = [
    dict(type='RandomBandJitter', brightness=0.8, contrast=0.8, band_gain=0.2, prob=0.8),
    dict(type='RandomBandGaussianBlur', sigma_range=(0.1, 2.0), prob=0.5),
]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile', expected_channels=4, color_type='unchanged'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PhotometricAugment', transforms=photometric_transforms, on_device=True),
    dict(type='PackInputs', algorithm_keys=['photometric_params', 'photometric_recipe']),
]
train_dataloader = dict(dataset=dict(data_root='data/potsdam_rgbir', pipeline=train_pipeline))
model = dict(
    data_preprocessor=dict(_delete_=True, type='MultiBandSelfSupDataPreprocessor', mean=band_mean, std=band_std),
    backbone=dict(in_channels=4))
