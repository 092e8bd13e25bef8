"""Shared start of the tools: make the repository importable and load a config like mmseg's tools do."""
import os.path as osp
import sys

try:
    import rs_ssl_plugin  # noqa: F401
except ImportError:
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import rs_ssl_plugin  # noqa: F401

from mmengine.config import Config  # noqa: E402


def load_config(args):
    """The config of ``args.config`` with ``--cfg-options`` and ``--launcher`` applied and its work_dir set
    with mmseg's priority: ``--work-dir`` > the config's ``work_dir`` > ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
