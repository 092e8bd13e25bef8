"""Test (and optionally visualise) a segmentation checkpoint with mmseg's tools/test.py arguments."""
import argparse
import os
import os.path as osp
import sys

# Importable from a plain checkout; importing the plugin registers its modules and lets mmengine load its
# own checkpoints under torch>=2.6.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import rs_ssl_plugin  # noqa: E402,F401
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from rs_ssl_plugin.datasets.checks import require_empty_output_dir  # noqa: E402
from rs_ssl_plugin.utils import resolve_work_dir  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test a segmentation model. Segmentation configs only (default_scope=\'mmseg\', e.g. '
        'configs/upernet_*.py); self-supervised pre-training configs have no test loop.')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', help='directory to save the predicted label maps (PNG, one per image)')
    parser.add_argument('--out-dir', help='directory for the per-class report: per_class_metrics.csv, '
                        'metrics.json (with the confusion matrix), confusion_matrix.png and colour predictions '
                        '(pred_colour/*.png, dataset palette)')
    parser.add_argument('--force', action='store_true', help='write into a non-empty --out-dir, replacing files')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory to save drawn predictions next to the ground truth')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation (tta_pipeline, tta_model)')
    # torchrun passes --local-rank (torch>=2.0), torch.distributed.launch --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_is_segmentation_config(cfg: Config, config_path: str) -> None:
    """Fail early and clearly instead of deep inside the Runner for a config this tool cannot test."""
    scope = cfg.get('default_scope')
    if scope != 'mmseg':
        sys.exit(f"error: tools/test.py tests segmentation configs (default_scope='mmseg'); {config_path} "
                 f'has default_scope={scope!r}')


def enable_visualization(cfg: Config, args) -> None:
    """Turn on ``default_hooks.visualization`` (SegVisualizationHook) for --show/--show-dir."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        sys.exit("error: --show/--show-dir need default_hooks.visualization=dict(type='SegVisualizationHook') "
                 'in the config')
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def enable_tta(cfg: Config) -> None:
    """Test with ``tta_pipeline`` and wrap the model in ``tta_model``."""
    missing = [key for key in ('tta_pipeline', 'tta_model') if key not in cfg]
    if missing:
        sys.exit(f'error: --tta needs {" and ".join(missing)} in the config')
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    cfg.tta_model.module = cfg.model
    cfg.model = cfg.tta_model


def enable_per_class_report(cfg: Config, out_dir: str, force: bool) -> None:
    """Have ``PerClassSegMetric`` write its report to ``out_dir``: configured as the test evaluator, or
    added beside another evaluator (its keys then read ``per_class/...``)."""
    try:
        require_empty_output_dir(out_dir, force)
    except FileExistsError as error:
        sys.exit(f'error: --out-dir {error}')
    report = dict(output_dir=out_dir, save_predictions=True, overwrite=force)
    evaluator = cfg.test_evaluator
    if isinstance(evaluator, dict) and evaluator.get('type') == 'PerClassSegMetric':
        evaluator.update(report)
        return
    evaluators = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
    ignore_index = evaluators[0].get('ignore_index', 255) if evaluators else 255
    cfg.test_evaluator = evaluators + [dict(type='PerClassSegMetric', prefix='per_class', ignore_index=ignore_index,
                                            **report)]


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    check_is_segmentation_config(cfg, args.config)
    cfg.work_dir = resolve_work_dir(args.work_dir, cfg.get('work_dir'), args.config)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        enable_tta(cfg)
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    if args.out_dir is not None:
        enable_per_class_report(cfg, args.out_dir, args.force)
    Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
