"""No checkpoint runs code when loaded: a payload that would create a marker file is refused, with the file
and the refused global named, by every path that loads checkpoints; the explicit opt-in."""
import http.server
import os.path as osp
import pickle
import sys
import threading

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

import rs_ssl_plugin  # noqa: F401
from helpers.configs import tiny_upernet_config
from helpers.tools import load_tool
from rs_ssl_plugin.checkpoints.reading import (
    RUNNER_CHECKPOINT_GLOBALS,
    UNSAFE_LOAD_ENV,
    UnsafeCheckpointError,
    load_checkpoint_file,
)


class Payload:
    """Unpickling this runs ``exec``, which creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f'open({self.marker!r}, "w").close()', )


@pytest.fixture
def payload(tmp_path, monkeypatch):
    """``payload.pth``: a checkpoint-looking dict whose meta runs code; and the marker that code would create."""
    monkeypatch.delenv(UNSAFE_LOAD_ENV, raising=False)  # also undoes what --unsafe-load sets
    marker = tmp_path / 'marker'
    path = tmp_path / 'payload.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(8, 3, 7, 7)}, meta=Payload(marker)), path)
    return str(path), marker


def refused(path, marker, run):
    """``run()`` must fail naming ``path`` and builtins.exec without creating ``marker``."""
    with pytest.raises((UnsafeCheckpointError, SystemExit)) as error:
        run()
    message = str(error.value)
    assert path in message and 'builtins.exec' in message and '--unsafe-load' in message, message
    assert not marker.exists()


def run_main(monkeypatch, tool, *argv):
    """``tools/<tool>.py`` with ``argv`` on its command line, in this process."""
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *map(str, argv)])
    load_tool(tool).main()


def test_mmengine_loader_refuses(payload):
    path, marker = payload
    refused(path, marker, lambda: _load_checkpoint(path, map_location='cpu'))


def test_http_checkpoints_are_refused(payload, tmp_path, monkeypatch):
    path, marker = payload
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))  # torch.hub caches downloads there

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/payload.pth'
        refused(url, marker, lambda: _load_checkpoint(url, map_location='cpu'))
    finally:
        server.shutdown()


def test_checkpoint_tools_refuse(payload, tmp_path, monkeypatch):
    path, marker = payload
    out = tmp_path / 'out.pth'
    refused(path, marker, lambda: run_main(monkeypatch, 'export_backbone', path, out))
    refused(path, marker, lambda: run_main(monkeypatch, 'model_converters/convert_official', path, out,
                                           '--format', 'dino-vit'))
    refused(path, marker, lambda: load_tool('model_converters/adapt_input_channels').main(
        [path, str(out), '--in-channels', '4']))
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    refused(path, marker, lambda: load_tool('vis_cluster').main([path, str(image), '--out-dir', str(tmp_path / 'v')]))
    assert not out.exists()


def test_runner_tools_refuse(payload, synthetic_potsdam, tmp_path, monkeypatch):
    """train.py (init_cfg=Pretrained), test.py and infer_tiles.py load through mmengine's loader."""
    path, marker = payload
    cfg = tiny_upernet_config(synthetic_potsdam, tmp_path / 'work')
    config, pretrained = str(tmp_path / 'upernet.py'), str(tmp_path / 'upernet_pretrained.py')
    cfg.dump(config)
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    cfg.dump(pretrained)
    refused(path, marker, lambda: run_main(monkeypatch, 'train', pretrained, '--cfg-options',
                                           'experiment_name=payload'))
    refused(path, marker, lambda: run_main(monkeypatch, 'test', config, path))
    image = tmp_path / 'scene.png'
    cv2.imwrite(str(image), np.zeros((40, 40, 3), np.uint8))
    refused(path, marker, lambda: load_tool('infer_tiles').main([config, path, str(image), '--out-dir',
                                                                 str(tmp_path / 'tiles'), '--device', 'cpu']))


def test_retrieval_refuses_payload_checkpoints_and_indexes(payload, tmp_path):
    path, marker = payload
    config = tmp_path / 'retrieval.py'
    config.write_text("default_scope = 'mmpretrain'\ncustom_imports = dict(imports=['rs_ssl_plugin'])\n"
                      "model = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18, base_channels=8))\n"
                      'test_dataloader = dict(dataset=dict(pipeline=[]))\n')
    folder = tmp_path / 'images'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), np.zeros((16, 16, 3), np.uint8))
    retrieve = load_tool('retrieve').main
    common = ['--query', str(folder / 'a.png'), '--show-dir', str(tmp_path)]
    refused(path, marker, lambda: retrieve(['search', str(config), path, '--folder', str(folder), *common]))
    torch.save(dict(state_dict={}), tmp_path / 'ckpt.pth')
    refused(path, marker, lambda: retrieve(['search', str(config), str(tmp_path / 'ckpt.pth'), '--load-index', path,
                                            *common]))


def test_getattr_resolves_to_history_buffer_statistics_only(tmp_path):
    class Attribute:
        def __init__(self, owner, name):
            self.owner, self.name = owner, name

        def __reduce__(self):
            return getattr, (self.owner, self.name)

    good, bad = tmp_path / 'good.pth', tmp_path / 'bad.pth'
    torch.save(dict(methods=[Attribute(HistoryBuffer, name) for name in ('min', 'max', 'current', 'mean')]), good)
    assert load_checkpoint_file(str(good))['methods'] == [HistoryBuffer.min, HistoryBuffer.max,
                                                          HistoryBuffer.current, HistoryBuffer.mean]
    torch.save(dict(method=Attribute(HistoryBuffer, 'register_statistics')), bad)
    with pytest.raises(UnsafeCheckpointError, match=r"needs getattr\('HistoryBuffer', 'register_statistics'\)"):
        load_checkpoint_file(str(bad))


def test_nothing_is_allowed_outside_the_guarded_loads(tmp_path):
    """Importing the plugin and loading through it leave torch's global allowlist as it was."""
    path = tmp_path / 'runner_like.pth'
    torch.save(dict(meta=dict(seed=np.int64(0)), message_hub=dict(log_scalars=dict(loss=HistoryBuffer([1.0], [1])))),
               path)
    assert load_checkpoint_file(str(path))['meta']['seed'] == 0
    assert not set(map(str, torch.serialization.get_safe_globals())) & set(map(str, RUNNER_CHECKPOINT_GLOBALS))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_unsafe_load_is_an_explicit_opt_in(payload, tmp_path, monkeypatch):
    path, marker = payload
    monkeypatch.setenv(UNSAFE_LOAD_ENV, '1')
    with pytest.warns(UserWarning, match=f'{UNSAFE_LOAD_ENV}=1: unpickling {path} fully'):
        _load_checkpoint(path, map_location='cpu')
    assert marker.exists()
    marker.unlink()
    monkeypatch.delenv(UNSAFE_LOAD_ENV)
    with pytest.warns(UserWarning, match='unpickling .*payload.pth fully'):
        run_main(monkeypatch, 'export_backbone', path, tmp_path / 'backbone.pth', '--unsafe-load')
    assert marker.exists() and osp.isfile(tmp_path / 'backbone.pth')
