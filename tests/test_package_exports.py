"""Every package of rs_ssl_plugin lists in ``__all__`` exactly the names its ``__init__`` imports."""
import ast
import importlib
import pathlib

import pytest

import rs_ssl_plugin

PACKAGE = pathlib.Path(rs_ssl_plugin.__file__).parent
INITS = sorted(PACKAGE.rglob('__init__.py'))


def imported_and_exported(init: pathlib.Path):
    """Names bound by the relative imports of ``init`` and the literal ``__all__`` list."""
    tree = ast.parse(init.read_text())
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom) and node.level
                for alias in node.names}
    exported = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(target, 'id', None) == '__all__' for target in node.targets)]
    return imported, exported


@pytest.mark.parametrize('init', INITS, ids=lambda p: str(p.parent.relative_to(PACKAGE.parent)))
def test_all_lists_exactly_the_imports(init):
    imported, exported = imported_and_exported(init)
    assert len(exported) == 1, f'{init} needs one literal __all__'
    names = exported[0]
    assert len(names) == len(set(names)), 'duplicates in __all__'
    assert set(names) == imported
    module = importlib.import_module('.'.join(init.parent.relative_to(PACKAGE.parent).parts))
    assert [n for n in names if not hasattr(module, n)] == []
