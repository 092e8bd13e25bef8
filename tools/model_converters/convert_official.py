r"""Convert an officially released checkpoint to the plugin's key layout.

    python tools/model_converters/convert_official.py Swin-S.pt pretrain/sdcluster_swin-s.pth \
        --format sdcluster-swin --target-config configs/upernet_swin-s-os16_sdcluster_potsdam.py

The input may be a raw state dict or wrapped in 'state_dict'/'model'/'teacher'; prefixes such as 'module.'
are stripped by each format. With --target-config the backbone of that config (or --target-key) is built and
nothing is written unless its every tensor receives a weight and no weight is left over. The output,
{'state_dict': {'backbone.*': ...}}, works with init_cfg=dict(type='Pretrained', prefix='backbone.'); the
whole-model formats (iddc: IDDC's released segmentor) write the model's own keys, for load_from / tools/test.py.
"""
import argparse

from mmengine.config import DictAction

from rs_ssl_plugin.checkpoints.conversion import CONVERTERS, convert_checkpoint
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.utils.config_modules import build_config_module
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('src', help='official checkpoint file')
    parser.add_argument('dst', help='output file; never overwritten unless --force')
    parser.add_argument('--format', required=True, choices=sorted(CONVERTERS), help='layout of the source')
    parser.add_argument('--target-config', help='check the result against the module of this config')
    parser.add_argument('--target-key', default='model.backbone', help='where that module sits in the config')
    parser.add_argument('--prefix', help="prefix of the written keys (default: the format's: 'backbone.' for "
                        "backbones, '' for whole models such as iddc and sdcluster-clustereval)")
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of --target-config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    """Convert an official checkpoint to the plugin's keys (checked against ``--target-config`` if given)."""
    args = parse_args(argv)
    with one_line_errors():
        target = (build_config_module(args.target_config, args.target_key, args.cfg_options) if args.target_config
                  else None)
        report = convert_checkpoint(args.src, args.dst, args.format, target, args.prefix, args.force)
    if report is not None:
        print(report.format())
    print(f'wrote {args.dst}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
