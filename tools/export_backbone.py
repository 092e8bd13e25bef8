"""Export the backbone of a self-supervised checkpoint for `init_cfg=Pretrained` or `load_from`.

    python tools/export_backbone.py work_dirs/false_r50_potsdam/epoch_200.pth backbone.pth \
        --target-config configs/upernet_r50_false_potsdam.py

With --target-config the backbone of that config is built and nothing is written unless it receives every
weight (no missing key, no shape mismatch).
"""
import argparse
import os.path as osp
import sys

# Importable from a plain checkout; importing the plugin registers its modules.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import rs_ssl_plugin  # noqa: E402,F401
from mmengine.config import Config  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402
from torch import nn  # noqa: E402

from rs_ssl_plugin.utils import export_backbone  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='SSL Runner checkpoint (or a raw / state_dict- / model-wrapped dict)')
    parser.add_argument('out', help='output file; never overwritten unless --force')
    parser.add_argument('--prefix', default='backbone.', help='key prefix of the backbone weights')
    parser.add_argument('--target-config', help='check that the backbone of this config receives every weight')
    parser.add_argument('--target-key', default='model.backbone', help='where the backbone sits in the config')
    parser.add_argument('--force', action='store_true', help='overwrite an existing output file')
    return parser.parse_args()


def build_target(config_path: str, key: str) -> nn.Module:
    """Build the module at ``key`` of a config (its ``custom_imports`` and ``default_scope`` honoured) with
    ``init_cfg``/``pretrained`` removed, so nothing is loaded from disk."""
    cfg = Config.fromfile(config_path)
    node = cfg
    try:
        for part in key.split('.'):
            node = node[part]
    except (KeyError, TypeError) as error:
        raise ValueError(f'{config_path} has no {key!r} (--target-key)') from error
    node = node.copy()
    node.pop('init_cfg', None)
    node.pop('pretrained', None)
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    return MODELS.build(node)


def main():
    args = parse_args()
    try:
        target = build_target(args.target_config, args.target_key) if args.target_config else None
        report = export_backbone(args.checkpoint, args.out, args.prefix, target, args.force)
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        sys.exit(f'error: {error}')
    if report is not None:
        print(report.format())
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
