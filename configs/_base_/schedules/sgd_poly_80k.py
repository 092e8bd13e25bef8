# mmseg's 80k schedule (SGD 0.01, poly decay to 1e-4, validation and checkpoints every 8000 iterations), with
# the decay over the run's length: no `end`, mmengine ends it with train_cfg.max_iters (docs/reliability.md)
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'

param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, by_epoch=False)]
