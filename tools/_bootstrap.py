"""Make the repository importable when a tool runs from a checkout without `pip install -e .`."""
import os.path as osp
import sys

try:
    import rs_ssl_plugin  # noqa: F401
except ImportError:
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import rs_ssl_plugin  # noqa: F401
