"""Train a self-supervised (mmpretrain scope) or segmentation (mmseg scope) config with mmseg's arguments.

The registry scope comes from the config's ``default_scope``; ``custom_imports`` loads the plugin.
"""
import argparse
import logging
import os
import os.path as osp
import sys

# Importable from a plain checkout; importing the plugin registers its modules and lets mmengine load its
# own checkpoints under torch>=2.6 (needed by --resume).
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import rs_ssl_plugin  # noqa: E402,F401
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from rs_ssl_plugin.utils import check_work_dir_is_fresh, resolve_work_dir  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train a self-supervised pre-training or a segmentation model. Refuses to write into '
        'a work_dir that already holds checkpoints unless --resume is given.')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the config\'s load_from, or else from the latest checkpoint in the '
                        'work_dir')
    parser.add_argument('--amp', action='store_true', help='enable automatic-mixed-precision training')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    # torchrun passes --local-rank (torch>=2.0), torch.distributed.launch --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to ``AmpOptimWrapper`` with a dynamic loss scale.

    mmpretrain configs may leave ``optim_wrapper.type`` out; it then defaults to ``OptimWrapper``.
    """
    wrapper_type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.', logger='current', level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper_type}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = resolve_work_dir(args.work_dir, cfg.get('work_dir'), args.config)
    if args.amp:
        enable_amp(cfg)
    # as mmseg: resume only on request; with resume=True and no load_from mmengine takes the work_dir's
    # last_checkpoint
    cfg.resume = args.resume
    try:
        check_work_dir_is_fresh(cfg.work_dir, cfg.resume)
    except FileExistsError as error:
        sys.exit(f'error: {error}')
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
