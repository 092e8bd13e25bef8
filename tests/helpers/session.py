"""What every test process sets up before it loads configs: the pytest processes (``conftest.pytest_configure``)
and the processes of a gloo group (:func:`helpers.distributed.run_in_processes`)."""
import copy
import os

import torch


def share_the_cores_between_test_processes():
    """Under pytest-xdist (``make test`` runs ``-n 2``) every test process gets its share of the cores for
    torch's threads, instead of each using all of them."""
    processes = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if processes > 1:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // processes))


def look_up_package_configs_once():
    """mmengine resolves every ``mmseg::``/``mmpretrain::`` base by reading all of the package's metafiles first
    (212 YAML files for mmseg, about 0.6 s a base, before it falls back to the ``_base_`` folder); the tests load
    hundreds of configs, so each lookup is made once per process, its answer or error kept. Idempotent."""
    from mmengine.config import utils
    if getattr(utils._get_cfg_metainfo, 'looks_up_once', False):
        return
    look_up, answers = utils._get_cfg_metainfo, {}

    def once(package_path, cfg_path):
        key = (package_path, cfg_path)
        if key not in answers:
            try:
                answers[key] = (look_up(package_path, cfg_path), None)
            except ValueError as error:
                answers[key] = (None, error)
        found, error = answers[key]
        if error is not None:
            raise error
        return copy.deepcopy(found)

    once.looks_up_once = True
    utils._get_cfg_metainfo = once


def set_up_test_process():
    """Both of the above."""
    share_the_cores_between_test_processes()
    look_up_package_configs_once()
