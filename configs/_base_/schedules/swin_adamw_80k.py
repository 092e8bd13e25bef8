# mmseg's Swin UperNet optimisation on 80k iterations: AdamW 6e-5, weight decay 0.01 except on relative
# position tables and norms, 1500 linear warm-up iterations, then linear (power 1) decay to 0 at the run's
# end (no `end`: mmengine ends it with train_cfg.max_iters; the warm-up keeps its 1500 iterations;
# docs/reliability.md).
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=dict(relative_position_bias_table=dict(decay_mult=0.),
                                        norm=dict(decay_mult=0.))))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, by_epoch=False),
]
