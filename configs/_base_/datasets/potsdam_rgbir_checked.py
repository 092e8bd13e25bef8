# Potsdam with 4 bands (R, G, B, IR): the crops of
#   python tools/dataset_converters/potsdam.py <zips> -o data/potsdam_rgbir --bands rgbir
# (4-band GeoTIFF, read with rasterio in file band order), mmseg's split, labels and 512 crops. Nothing
# RGB-specific: no channel flip, and PhotoMetricDistortion (HSV) is replaced by the band-agnostic
# RandomBandJitter (multiplicative brightness and contrast jitter of similar strength, small per-band gains).
# The model's data preprocessor needs 4-value mean/std and bgr_to_rgb=False.
_base_ = './potsdam_checked.py'

data_root = 'data/potsdam_rgbir'
num_classes = 6
crop_size = (512, 512)
# CheckedLoadImageFromFile under mmseg's step name, for mmseg's inference clients (see potsdam_checked.py)
load_image = dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin', expected_channels=4, color_type='unchanged')
load_labels = dict(type='CheckedLoadAnnotations', num_classes=num_classes, reduce_zero_label=True)
train_pipeline = [
    load_image,
    load_labels,
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomBandJitter', brightness=0.125, contrast=0.5, band_gain=0.05, prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    load_image,
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    load_labels,
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    load_image,
    dict(type='TestTimeAug',
         transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
                     [dict(type='RandomFlip', prob=0., direction='horizontal'),
                      dict(type='RandomFlip', prob=1., direction='horizontal')],
                     [load_labels],
                     [dict(type='PackSegInputs')]]),
]
train_dataloader = dict(dataset=dict(data_root=data_root, img_suffix='.tif', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, img_suffix='.tif', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='PerClassSegMetric')
test_evaluator = val_evaluator
