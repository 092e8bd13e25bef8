r"""Adapt the first convolution / patch embedding of 3-band (RGB) weights to N input bands.

    python tools/model_converters/adapt_input_channels.py work_dirs/false_r50_potsdam/backbone.pth \
        work_dirs/false_r50_potsdam/backbone_4band.pth --in-channels 4

The RGB filters go to the bands given by --rgb-indices (default 0 1 2: R, G, B, NIR, ... order), every other
band gets the mean RGB filter, and all are scaled by 3/N (see rs_ssl_plugin/checkpoints/channel_adapt.py). The
output loads with the usual init_cfg=dict(type='Pretrained', ...) into any backbone (ResNet, ViT, Swin).
"""
import argparse

from rs_ssl_plugin.checkpoints.channel_adapt import adapt_checkpoint_input_channels
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments of ``argv`` (default ``sys.argv``; see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('src', help='checkpoint with 3-band first-layer weights')
    parser.add_argument('dst', help='output file; never overwritten unless --force')
    parser.add_argument('--in-channels', type=int, required=True, help='bands of the target model')
    parser.add_argument('--key', help='the kernel to adapt (default: the first one with 3 input channels)')
    parser.add_argument('--prefix', default='', help='look for that kernel under this prefix only')
    parser.add_argument('--rgb-indices', type=int, nargs=3, default=(0, 1, 2), help='bands holding R, G, B')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    """Write the checkpoint with its first-layer kernel adapted to ``--in-channels`` bands."""
    args = parse_args(argv)
    with one_line_errors():
        key = adapt_checkpoint_input_channels(args.src, args.dst, args.in_channels, args.key, args.prefix,
                                              args.rgb_indices, args.force)
    print(f'adapted {key} to {args.in_channels} bands; wrote {args.dst}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
