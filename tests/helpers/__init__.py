"""Plain helpers of the tests, imported as ``from helpers.<topic> import ...`` (pytest's default ``prepend``
import mode puts ``tests/``, the folder of the root ``conftest.py``, on ``sys.path``):

- :mod:`helpers.session`: what every test process sets up (its share of the cores, package config lookups once);
- :mod:`helpers.tools`: the repository root, loading the scripts of ``tools/`` and ``bench/``, running a tool;
- :mod:`helpers.distributed`: running a function in the processes of a gloo group;
- :mod:`helpers.runner`: checks of what a Runner run learned;
- :mod:`helpers.configs`: shipped configs shrunk for CPU runs;
- :mod:`helpers.sdcluster`: SDCluster's batches (the builder of ``bench/bench_sdcluster.py``) and slot-contrast
  reference, shared by its test files.
"""
