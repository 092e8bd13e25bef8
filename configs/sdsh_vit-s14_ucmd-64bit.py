# SDSH on UC Merced Land Use (21 classes x 100 images), 64-bit codes: train ratio 0.8 (1,680 database /
# 420 query images), 100 "epochs" of 30 iterations (3,000 iterations), evaluation every 30 iterations.
# Data: data/UCMerced_LandUse/Images/<class>/<image>.tif (the HF copy must be exported to class folders).
_base_ = ['./sdsh_vit-s14_aid-64bit.py']

data_root = 'data/UCMerced_LandUse/Images'
dataset_type = 'UCMercedRetrieval'
epoch_length = 30
epochs = 100

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
custom_hooks = [
    dict(type='SDSHScheduleHook', epoch_length=epoch_length, epochs=epochs, base_lr=1e-3, min_lr=1e-6, warmup_epochs=10,
         weight_decay=0.04, weight_decay_end=0.4, freeze_last_layer_epochs=1, momentum=0.992,
         final_momentum=1.0, warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=30),
    # collapse monitor of the student's hash codes (docs/evaluation.md)
    dict(type='SSLMonitorHook', interval=epoch_length),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=epochs * epoch_length, val_interval=epoch_length)
default_hooks = dict(checkpoint=dict(interval=epoch_length * 10))
