# sgd_poly_80k.py on 40k iterations, with mmseg's 40k intervals (validation and checkpoints every 4000
# iterations)
_base_ = './sgd_poly_80k.py'

train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
