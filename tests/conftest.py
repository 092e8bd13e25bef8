"""Session setup and shared fixtures; the plain helpers are in ``tests/helpers`` (``from helpers.<topic> import``)."""
import pytest

from helpers.session import set_up_test_process


def pytest_configure(config):
    """Every pytest process (each pytest-xdist worker among them) sets itself up before it collects the test
    modules, some of which load configs at import: its share of the cores for torch's threads, and mmengine's
    lookups of package configs made once (:mod:`helpers.session`)."""
    set_up_test_process()


@pytest.fixture(scope='session')
def synthetic_potsdam(tmp_path_factory):
    """A tiny synthetic Potsdam (4 train, 2 val, 8 unlabeled 64 px scenes) shared by the tests of a session.
    Read-only: a test that changes the data changes a copy."""
    from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
    root = tmp_path_factory.mktemp('synthetic') / 'potsdam'
    make_synthetic_potsdam(str(root), num_train=4, num_val=2, num_unlabeled=8, size=64, seed=3)
    return str(root)
