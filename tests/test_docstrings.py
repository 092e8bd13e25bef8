"""Every class and function the plugin registers documents each constructor argument in an ``Args:`` section.

Users write configs against these signatures (``dict(type='SDSHScheduleHook', epoch_length=80, ...)``), so the
class docstring (mmpretrain's style) names every argument of ``__init__`` with its type and, where it has one,
its default; ``*args``/``**kwargs`` get an entry saying what they are forwarded to. ruff's ``D417`` checks
functions and methods that have an ``Args:`` section; class docstrings and missing sections are checked here.
"""
import ast
import inspect
import pathlib
import re

import pytest
from mmengine import registry as mmengine_registry
from mmengine.registry import Registry

import rs_ssl_plugin

PACKAGE = pathlib.Path(rs_ssl_plugin.__file__).parent
ENTRY = re.compile(r'^ {4}(\*{0,2}\w+)(?: \((.+?)\))?:(?:\s|$)')
DEFAULT = re.compile(r'\bDefaults? to\b')


def all_registries():
    """mmengine's root registries and, recursively, their children (mmpretrain's, mmseg's, the plugin's)."""
    pending = [obj for obj in vars(mmengine_registry).values() if isinstance(obj, Registry)]
    seen = {}
    while pending:
        registry = pending.pop()
        if id(registry) not in seen:
            seen[id(registry)] = registry
            pending.extend(registry.children.values())
    return list(seen.values())


def plugin_registered():
    """The plugin's own classes and functions in any registry, each once, by qualified name."""
    found = {}
    for registry in all_registries():
        for obj in registry.module_dict.values():
            if getattr(obj, '__module__', '').startswith('rs_ssl_plugin'):
                found[f'{obj.__module__}.{obj.__qualname__}'] = obj
    return found


REGISTERED = plugin_registered()


def registered_in_source():
    """Names of the classes and functions the plugin's source registers (decorators and ``module=`` calls)."""
    names = set()
    for path in PACKAGE.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and any(
                    'register_module' in ast.unparse(decorator) for decorator in node.decorator_list):
                names.add(node.name)
            elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith('register_module'):
                names.update(ast.unparse(kw.value) for kw in node.keywords if kw.arg == 'module')
    return names


def args_section(doc: str) -> dict:
    """``{name: (type or None, entry text)}`` of the ``Args:`` section of a docstring (google style)."""
    lines = inspect.cleandoc(doc or '').splitlines()
    if 'Args:' not in lines:
        return {}
    entries, name = {}, None
    for line in lines[lines.index('Args:') + 1:]:
        if line and not line.startswith(' '):
            break  # the next section or paragraph
        match = ENTRY.match(line)
        if match:
            name = match.group(1)
            entries[name] = (match.group(2), line)
        elif name is not None and line.startswith(' ' * 8):
            entries[name] = (entries[name][0], f'{entries[name][1]} {line.strip()}')
    return entries


def signature_parameters(obj):
    """The parameters a config gives: ``__init__``'s without ``self`` for a class, else the function's."""
    if inspect.isclass(obj):
        if obj.__init__ is object.__init__:
            return []
        return list(inspect.signature(obj.__init__).parameters.values())[1:]
    return list(inspect.signature(obj).parameters.values())


def documentation_problems(obj) -> list:
    """What the docstring of ``obj`` lacks or gets wrong about its arguments (empty when it is complete)."""
    parameters = signature_parameters(obj)
    if not parameters:
        return []
    entries = args_section(obj.__doc__)
    if not entries:
        return ['no Args: section']
    problems = []
    for param in parameters:
        star = {param.VAR_POSITIONAL: '*', param.VAR_KEYWORD: '**'}.get(param.kind, '')
        name = star + param.name
        if name not in entries:
            problems.append(f'{name} is not documented' + (' (say what it is forwarded to)' if star else ''))
            continue
        kind, text = entries[name]
        if not star and not kind:
            problems.append(f'{name} has no type in parentheses')
        if param.default is not param.empty and not DEFAULT.search(text):
            problems.append(f'{name} does not say its default ("Defaults to {param.default!r}.")')
    names = {({param.VAR_POSITIONAL: '*', param.VAR_KEYWORD: '**'}.get(param.kind, '') + param.name)
             for param in parameters}
    problems += [f'{name} is documented but not an argument' for name in entries if name not in names]
    return problems


def test_the_registry_walk_finds_everything_the_source_registers():
    found = {obj.__name__ for obj in REGISTERED.values()}
    assert registered_in_source() - found == set()
    assert {'SDSH', 'SDSHScheduleHook', 'LARC', 'VISSLCosineRestartLR', 'OverlappingMultiCrop',
            'ChannelAdaptedPretrainedInit', 'CheckedLoadImageFromFile', 'sdsh_collate'} <= found


@pytest.mark.parametrize('name', sorted(REGISTERED))
def test_registered_object_documents_every_argument(name):
    assert documentation_problems(REGISTERED[name]) == []


def test_a_missing_argument_is_reported():
    class Documented:
        """Summary.

        Args:
            temperature (float): Softmax temperature. Defaults to 0.1.
            **kwargs: Forwarded to the parent.
        """

        def __init__(self, temperature: float = 0.1, momentum: float = 0.9, **kwargs):
            pass

    class Undocumented:
        """Summary without arguments."""

        def __init__(self, size: int):
            pass

    class Untyped:
        """Summary.

        Args:
            size: crop size, wrapped
                over two lines. Defaults to 3.
            stale (int): an argument that no longer exists.
        """

        def __init__(self, size: int = 3):
            pass

    assert documentation_problems(Documented) == ['momentum is not documented']
    assert documentation_problems(Undocumented) == ['no Args: section']
    assert documentation_problems(Untyped) == ['size has no type in parentheses',
                                               'stale is documented but not an argument']
