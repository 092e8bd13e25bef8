"""The repository root, loading a script of ``tools/`` or ``bench/`` as a module, and running a tool in this
process."""
import contextlib
import importlib.util
import io
import os.path as osp
import runpy
import subprocess
import sys
import traceback

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool(name):
    """Import ``tools/<name>.py`` (a script, not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f'tool_{osp.basename(name)}', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_bench(name):
    """Import ``bench/<name>.py`` (a script, not a package; ``name`` may name a subfolder, as in
    ``'gpu_suite/gpu_suite'``) as a module; ``bench/`` and the script's folder go on ``sys.path``, as when the
    script runs, for its imports of the other bench modules."""
    bench = osp.join(REPO, 'bench')
    path = osp.join(bench, f'{name}.py')
    for folder in (bench, osp.dirname(path)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(osp.basename(name), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_tool(script, *args):
    """``python <script> <args>`` from the repository root, run in this process (``runpy``, as ``__main__``).

    The result has the ``returncode``, ``stdout`` and ``stderr`` a subprocess would give: ``sys.exit('error:
    ...')`` is status 1 with the message on stderr, an uncaught exception status 1 with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    returncode = 0
    argv = sys.argv
    sys.argv = [str(script), *map(str, args)]
    with contextlib.chdir(REPO), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(str(script), run_name='__main__')
        except SystemExit as stop:
            if isinstance(stop.code, str):
                print(stop.code, file=sys.stderr)
            returncode = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        except Exception:  # reported as the interpreter would report it
            traceback.print_exc()
            returncode = 1
        finally:
            sys.argv = argv
    return subprocess.CompletedProcess([script, *args], returncode, out.getvalue(), err.getvalue())


def train_tool_config(monkeypatch, *args):
    """The config ``tools/train.py <args>`` would train, with the Runner's training replaced by nothing."""
    built = {}

    class Built:
        def train(self):
            pass

    def from_cfg(cfg):
        built['cfg'] = cfg
        return Built()

    train = load_tool('train')
    monkeypatch.setattr(train, 'build_runner', lambda cfg, verbose: from_cfg(cfg))
    monkeypatch.setattr(sys, 'argv', ['train.py', *map(str, args)])
    train.main()
    return built['cfg']
