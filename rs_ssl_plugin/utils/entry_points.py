"""What the plugin's command-line entry points (tools/, demo/) set up before running: the warning filter,
the ``--help`` layout, and the one-line errors for the mistakes users make."""
import argparse
import contextlib
import errno
import inspect
import os.path as osp
import re
import sys
import warnings
from typing import Iterator, Optional, Sequence, Tuple, Type

__all__ = ['USER_ERRORS', 'ToolHelpFormatter', 'one_line_errors', 'silence_pkg_resources_warning']

# What a wrong path, option, config or input file raises in the plugin and mmengine; the plugin's own refusals
# (CheckpointError, StemMismatchError, ...) are ValueErrors.
USER_ERRORS: Tuple[Type[BaseException], ...] = (FileNotFoundError, FileExistsError, KeyError, ValueError,
                                                 SyntaxError)
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def silence_pkg_resources_warning() -> None:
    """Hide setuptools' ``pkg_resources is deprecated`` UserWarning, which the pinned mmengine emits several
    times in every command (``Config.fromfile``, registry imports), and nothing else. Called by the entry
    points only: importing the library changes no warning filter."""
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)


class ToolHelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` keeps the layout of the description (its example commands) and shows each option's default,
    except where there is nothing to show: a switch (``False``), a default computed at run time (``None``) or
    one the help text already names."""

    def _get_help_string(self, action: argparse.Action) -> Optional[str]:
        if action.default is None or action.default is False or 'default' in (action.help or ''):
            return action.help
        return super()._get_help_string(action)


def _unexpected_argument(error: TypeError, cfg_options: Optional[dict], config: Optional[str]) -> Optional[str]:
    """The message for ``Class.__init__() got an unexpected keyword argument 'x'`` (a typo'd or misplaced
    config key: mmengine builds the class deep inside the Runner), naming the key and the class's arguments;
    ``None`` for any other TypeError."""
    match = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", str(error))
    if match is None:
        return None
    class_name, argument = match.groups()
    keys = [key for key in cfg_options or {} if key.split('.')[-1] == argument]
    where = (f'--cfg-options {", ".join(keys)}' if keys else
             f'the config key {argument!r}' + (f' in {config}' if config else ''))
    # the exception is raised where the class is called (mmengine's build_from_cfg or Runner.build_*_loop),
    # which holds the class in a local or global name
    traceback = error.__traceback__
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    frame = traceback.tb_frame
    candidates = [*frame.f_locals.values(), *frame.f_globals.values()]
    cls = next((c for c in candidates if inspect.isclass(c) and c.__name__ == class_name), None)
    if cls is None:
        return f'{where}: {class_name} takes no argument {argument!r}'
    valid = [name for name, parameter in inspect.signature(cls).parameters.items()
             if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)]
    return f'{where}: {class_name} takes no argument {argument!r}; its arguments are {", ".join(valid)}'


def _unwritable(error: OSError, work_dir: Optional[str]) -> str:
    path = error.filename or '?'
    if work_dir is not None:
        inside = osp.abspath(path)
        if inside == osp.abspath(work_dir) or inside.startswith(osp.join(osp.abspath(work_dir), '')):
            return f'cannot write to work_dir {work_dir}: {error.strerror} ({path})'
    return f'cannot write to {path}: {error.strerror}'


@contextlib.contextmanager
def one_line_errors(errors: Sequence[Type[BaseException]] = USER_ERRORS, work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None, config: Optional[str] = None) -> Iterator[None]:
    """Exit with ``error: <one line>`` instead of a traceback for the known mistakes: ``errors`` (their
    messages name the file or key), a path that cannot be written (naming ``work_dir`` when it is in it) and
    a config key that the class built from it does not take (naming the ``cfg_options`` key that set it and
    the class's arguments). Anything else keeps its traceback: it is a bug, not a mistake."""
    try:
        yield
    except OSError as error:
        if error.errno in _UNWRITABLE:
            sys.exit(f'error: {_unwritable(error, work_dir)}')
        if isinstance(error, tuple(errors)):
            sys.exit(f'error: {error}')
        raise
    except SyntaxError as error:  # mmengine parses the config before it names it: the message has no file
        where = config if error.filename in (None, '<unknown>') else error.filename
        sys.exit(f'error: {where}: invalid Python: {error.msg} (line {error.lineno})')
    except TypeError as error:
        message = _unexpected_argument(error, cfg_options, config)
        if message is None:
            raise
        sys.exit(f'error: {message}')
    except tuple(errors) as error:
        # a KeyError's str() is the repr of its key; mmengine's registry puts whole sentences there
        sys.exit(f'error: {error.args[0] if isinstance(error, KeyError) and error.args else error}')
