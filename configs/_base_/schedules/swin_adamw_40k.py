# mmseg's Swin UperNet optimisation (swin_adamw_80k.py) on 40k iterations, with mmseg's 40k intervals
# (validation and checkpoints every 4000 iterations).
_base_ = './swin_adamw_80k.py'

train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
