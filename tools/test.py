"""Test (and optionally visualise) a segmentation checkpoint with mmseg's tools/test.py arguments.

Segmentation configs only (default_scope='mmseg', e.g. configs/upernet_*.py); self-supervised pre-training
configs have no test loop.

The checkpoint must fit the config's model exactly (a pre-training checkpoint or one of another
architecture is refused with the keys that do not match), and is read without running pickled code. Ends by
listing what it wrote: the log and metrics JSON of the run, its config, and the --out, --out-dir and --show-dir
folders. The whole config and the hooks' order go to the log file only (``--verbose`` prints them too).
"""
import argparse
import os
import os.path as osp
from typing import List

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from rs_ssl_plugin.checkpoints.reading import CheckpointError
from rs_ssl_plugin.engine.runner_config import (
    add_unsafe_load_argument,
    add_verbose_argument,
    build_runner,
    check_is_segmentation_config,
    dumped_config_path,
    enable_label_output,
    enable_per_class_report,
    enable_strict_checkpoint_loading,
    enable_tta,
    enable_visualization,
)
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning
from rs_ssl_plugin.utils.work_dir import require_empty_output_dir, resolve_work_dir


def parse_args(argv=None):
    """Command-line arguments; also sets ``LOCAL_RANK`` from ``--local-rank`` for the launcher."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the file containing evaluation metrics (default: '
                        'the config\'s work_dir, else work_dirs/<config name>)')
    parser.add_argument('--out', help='directory to save the predicted label maps (PNG, one per image); must be '
                        'new or empty unless --force')
    parser.add_argument('--out-dir', help='directory for the per-class report: per_class_metrics.csv, '
                        'metrics.json (with the confusion matrix), confusion_matrix.png, colour predictions '
                        '(pred_colour/*.png, dataset palette, pred_colour_legend.png) and '
                        'image_truth_prediction.png (the first 4 test images as image | ground truth | prediction, '
                        'with the class legend)')
    parser.add_argument('--force', action='store_true', help='write into a non-empty --out/--out-dir, replacing '
                        'files')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory to save drawn predictions next to the ground truth')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    add_verbose_argument(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (tta_pipeline, tta_model)')
    # torchrun passes --local-rank (torch>=2.0), torch.distributed.launch --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help='set by the launcher')
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def written_paths(runner: Runner, args) -> List[str]:
    """The run's log and metrics JSON (mmengine's ``<work_dir>/<timestamp>/<timestamp>.log|json``) and the
    config it ran (``<work_dir>/<config name>.py``), then each output folder the arguments named, with the
    number of files it holds."""
    paths = [osp.join(runner.log_dir, f'{runner.timestamp}.{ext}') for ext in ('log', 'json')]
    paths.append(dumped_config_path(runner))
    written = [path for path in paths if osp.isfile(path)]
    for option, folder in (('--out', args.out), ('--out-dir', args.out_dir), ('--show-dir', args.show_dir)):
        if folder is not None:
            count = sum(len(files) for _, _, files in os.walk(folder))
            written.append(f'{folder} ({option}: {count} files)')
    return written


def main(argv=None):
    """Test the checkpoint with the config's test loop and evaluator (plus the requested outputs)."""
    args = parse_args(argv)
    with one_line_errors(cfg_options=args.cfg_options, config=args.config):
        cfg = Config.fromfile(args.config)
        cfg.launcher = args.launcher
        if args.cfg_options is not None:
            cfg.merge_from_dict(args.cfg_options)
        check_is_segmentation_config(cfg, args.config)
        if args.show or args.show_dir:
            enable_visualization(cfg, args.show, args.show_dir, args.wait_time)
        if args.tta:
            enable_tta(cfg)
        if args.out_dir is not None:
            title = f'{osp.basename(args.config)} with {osp.basename(args.checkpoint)}, the first test images'
            enable_per_class_report(cfg, args.out_dir, args.force, title)
        if args.out is not None:
            require_empty_output_dir(args.out, args.force)
        if '://' not in args.checkpoint and not os.path.isfile(args.checkpoint):
            raise FileNotFoundError(f'checkpoint {args.checkpoint} does not exist')
    cfg.work_dir = resolve_work_dir(args.work_dir, cfg.get('work_dir'), args.config)
    cfg.load_from = args.checkpoint
    enable_strict_checkpoint_loading(cfg)
    if args.out is not None:
        enable_label_output(cfg, args.out, args.force)
    with one_line_errors(work_dir=cfg.work_dir, cfg_options=args.cfg_options, config=args.config):
        runner = build_runner(cfg, args.verbose)
    # while testing, only unreadable, unsafe or unfitting checkpoints, an unwritable output and config keys
    # the built classes do not take are the user's: anything else keeps its traceback
    with one_line_errors((CheckpointError,), work_dir=cfg.work_dir, cfg_options=args.cfg_options,
                         config=args.config):
        runner.test()
    if is_main_process():
        print('wrote:\n' + '\n'.join(f'  {path}' for path in written_paths(runner, args)))


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
