# mmseg's Swin UperNet optimisation (swin_adamw_80k.py) on 40k iterations, with mmseg's 40k intervals
# (validation and checkpoints every 4000 iterations).
_base_ = './swin_adamw_80k.py'

iterations = 40000
train_cfg = dict(max_iters=iterations, val_interval=4000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=iterations, by_epoch=False),
]
default_hooks = dict(checkpoint=dict(interval=4000))
