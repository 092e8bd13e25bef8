"""Export the backbone of a self-supervised checkpoint for `init_cfg=Pretrained` or `load_from`.

    python tools/export_backbone.py work_dirs/false_r50_potsdam/epoch_200.pth backbone.pth \
        --target-config configs/upernet_r50_false_potsdam.py
"""
import argparse
import sys

import _bootstrap  # noqa: F401
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from rs_ssl_plugin.utils import export_backbone


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='SSL Runner checkpoint (or a raw / model-wrapped state dict)')
    parser.add_argument('out', help='output file; never overwritten unless --force')
    parser.add_argument('--prefix', default='backbone.', help='key prefix of the backbone weights')
    parser.add_argument('--target-config', help='check that this config\'s backbone receives every weight')
    parser.add_argument('--target-key', default='model.backbone', help='where the backbone sits in the config')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    return parser.parse_args()


def build_target(config_path, key):
    """Build the backbone at ``key`` of a config, with nothing loaded from disk."""
    cfg = Config.fromfile(config_path)
    node = cfg
    for part in key.split('.'):
        node = node[part]
    node = node.copy()
    node.pop('init_cfg', None)
    node.pop('pretrained', None)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    return MODELS.build(node)


def main():
    args = parse_args()
    target = build_target(args.target_config, args.target_key) if args.target_config else None
    try:
        report = export_backbone(args.checkpoint, args.out, args.prefix, target, args.force)
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as error:
        sys.exit(f'error: {error}')
    if report is not None:
        print(report.format())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
