"""One folder per method, each holding everything only that method uses."""
from . import false, iddc, sdcluster, sdsh

__all__ = ['false', 'iddc', 'sdcluster', 'sdsh']
