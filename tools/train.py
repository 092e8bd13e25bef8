"""Train a self-supervised (mmpretrain scope) or segmentation (mmseg scope) config with mmseg's arguments.

The registry scope comes from the config's ``default_scope``; ``custom_imports`` loads the plugin. A plain
``CheckpointHook`` becomes ``ResumableCheckpointHook``, so ``--resume`` continues a killed run exactly. The
schedules follow the run's length (a decay that would begin after a shortened run is left out, with a
warning). The whole config, the hooks' order and each parameter's optimiser options go to the log file only
(the config also to ``<work_dir>/<config name>.py``, which the console names); ``--verbose`` prints them too.
``--augment-on-cpu`` runs the photometric augmentation of the pre-training configs per image in the loader
workers instead of on the batch in the data preprocessor (docs/input_pipeline.md).
"""
import argparse
import os

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log

from rs_ssl_plugin.checkpoints.reading import CheckpointError
from rs_ssl_plugin.datasets.pipeline_config import set_augment_on_device
from rs_ssl_plugin.engine.mixed_precision import AUTOCAST_DTYPES
from rs_ssl_plugin.engine.runner_config import (
    add_unsafe_load_argument,
    add_verbose_argument,
    build_runner,
    check_amp_device,
    disable_amp,
    disable_pin_memory_without_cuda,
    enable_amp,
    enable_resumable_checkpoints,
)
from rs_ssl_plugin.engine.schedule_length import leave_out_schedulers_after_run
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning
from rs_ssl_plugin.utils.work_dir import check_work_dir_is_fresh, resolve_work_dir


def parse_args(argv=None):
    """Command-line arguments; also sets ``LOCAL_RANK`` from ``--local-rank`` for the launcher."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models (default: the config\'s work_dir, else '
                        'work_dirs/<config name>)')
    parser.add_argument('--resume', action='store_true',
                        help='resume from the config\'s load_from, or else from the work_dir\'s last_checkpoint '
                        '(the newest intact checkpoint if that one is truncated)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--amp', action='store_true',
                           help='train in mixed precision (MixedPrecisionOptimWrapper): float16 autocast with a '
                           'dynamic loss scale on GPUs, bfloat16 on the CPU')
    precision.add_argument('--no-amp', action='store_true',
                           help='train in float32 also where the config enables AMP (e.g. SDCluster)')
    parser.add_argument('--amp-dtype', choices=AUTOCAST_DTYPES,
                        help='autocast dtype of --amp (implies --amp; default: float16 on GPUs, bfloat16 on the CPU)')
    parser.add_argument('--augment-on-cpu', action='store_true',
                        help='run the photometric augmentation (colour jitter, grayscale, blur) per image in the '
                        'loader workers instead of on the batch in the data preprocessor: on_device=False on every '
                        'transform that has it (PhotometricAugment, SDSHMultiCrop); pre-training configs only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    add_verbose_argument(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    # torchrun passes --local-rank (torch>=2.0), torch.distributed.launch --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help='set by the launcher')
    args = parser.parse_args(argv)
    if args.amp_dtype and args.no_amp:
        parser.error('--amp-dtype contradicts --no-amp')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    """Train with the config, refusing a work_dir that already holds checkpoints unless ``--resume``."""
    args = parse_args(argv)
    with one_line_errors(cfg_options=args.cfg_options, config=args.config):
        cfg = Config.fromfile(args.config)
        cfg.launcher = args.launcher
        if args.cfg_options is not None:
            cfg.merge_from_dict(args.cfg_options)
        leave_out_schedulers_after_run(cfg)
        cfg.work_dir = resolve_work_dir(args.work_dir, cfg.get('work_dir'), args.config)
        # as mmseg: resume only on request; with resume=True and no load_from mmengine takes the work_dir's
        # last_checkpoint
        cfg.resume = args.resume
        if args.amp or args.amp_dtype:
            enable_amp(cfg, args.amp_dtype)
        elif args.no_amp:
            disable_amp(cfg)
        check_amp_device(cfg, torch.cuda.is_available())
        disable_pin_memory_without_cuda(cfg, torch.cuda.is_available())
        if args.augment_on_cpu:
            try:
                switched = set_augment_on_device(cfg, False)
            except ValueError as error:
                raise ValueError(f'--augment-on-cpu: {args.config}: {error}') from error
            print_log(f'--augment-on-cpu: on_device=False at {", ".join(switched)}', logger='current')
        check_work_dir_is_fresh(cfg.work_dir, cfg.resume)
    enable_resumable_checkpoints(cfg)
    with one_line_errors(work_dir=cfg.work_dir, cfg_options=args.cfg_options, config=args.config):
        runner = build_runner(cfg, args.verbose)
    # while training, only unreadable, unsafe or (init_cfg) unfitting checkpoints, an unwritable work_dir and
    # config keys the built classes do not take are the user's: anything else keeps its traceback
    with one_line_errors((CheckpointError,), work_dir=cfg.work_dir, cfg_options=args.cfg_options,
                         config=args.config):
        runner.train()


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
