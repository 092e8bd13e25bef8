# mmseg's Potsdam settings (converted layout, 6 classes, reduce_zero_label=True, 512 crops) with the
# plugin's checked dataset and loaders: missing folders, corrupt images, wrong band counts, label maps
# of the wrong size or with values outside the classes fail with an error naming the file.
_base_ = 'mmseg::_base_/datasets/potsdam.py'

num_classes = 6
crop_size = (512, 512)
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='CheckedLoadAnnotations', num_classes=num_classes, reduce_zero_label=True),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# The test loader is CheckedLoadImageFromFile under mmseg's step name, in the plugin's registry scope: mmseg's
# inference_model and MMSegInferencer find loaders by that name (rs_ssl_plugin/registry.py). The checked label
# loader passes images without labels, so this pipeline also serves those clients.
test_pipeline = [
    dict(type='LoadImageFromFile', _scope_='rs_ssl_plugin'),
    dict(type='Resize', scale=(512, 512), keep_ratio=True),
    dict(type='CheckedLoadAnnotations', num_classes=num_classes, reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='TestTimeAug',
         transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
                     [dict(type='RandomFlip', prob=0., direction='horizontal'),
                      dict(type='RandomFlip', prob=1., direction='horizontal')],
                     [dict(type='CheckedLoadAnnotations', num_classes=num_classes, reduce_zero_label=True)],
                     [dict(type='PackSegInputs')]]),
]
train_dataloader = dict(dataset=dict(type='CheckedPotsdamDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='CheckedPotsdamDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU', 'mFscore'])
# decode_head/auxiliary_head num_classes must equal the dataset's class count, and the data preprocessor's
# mean/std count the images' band count: checked before training and testing
# (rs_ssl_plugin/engine/num_classes_check.py, band_count_check.py)
custom_hooks = [dict(type='NumClassesCheckHook'), dict(type='BandCountCheckHook')]
test_evaluator = val_evaluator
