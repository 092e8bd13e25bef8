r"""Export the backbone of a self-supervised checkpoint for `init_cfg=Pretrained` or `load_from`.

    python tools/export_backbone.py work_dirs/false_r50_potsdam/epoch_200.pth backbone.pth \
        --target-config configs/upernet_r50_false_potsdam.py

With --target-config the backbone of that config is built and nothing is written unless it receives every
weight (no missing key, no shape mismatch).
"""
import argparse

from mmengine.config import DictAction

from rs_ssl_plugin.checkpoints.export import export_backbone
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.utils.config_modules import build_config_module
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('checkpoint', help='SSL Runner checkpoint (or a raw / state_dict- / model-wrapped dict)')
    parser.add_argument('out', help='output file; never overwritten unless --force')
    parser.add_argument('--prefix', default='backbone.', help='key prefix of the backbone weights')
    parser.add_argument('--target-config', help='check that the backbone of this config receives every weight')
    parser.add_argument('--target-key', default='model.backbone', help='where the backbone sits in the config')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of --target-config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    """Export the backbone weights (checked against ``--target-config`` if given) and print the report."""
    args = parse_args(argv)
    with one_line_errors():
        target = (build_config_module(args.target_config, args.target_key, args.cfg_options) if args.target_config
                  else None)
        report = export_backbone(args.checkpoint, args.out, args.prefix, target, args.force)
    if report is not None:
        print(report.format())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
