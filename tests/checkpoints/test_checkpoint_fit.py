"""Testing and inference tools refuse checkpoints of another model, loudly and with a hint, and name the
checkpoint file they cannot read."""
import sys

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import rs_ssl_plugin  # noqa: F401
from helpers.configs import tiny_upernet_config
from helpers.tools import load_tool
from rs_ssl_plugin.checkpoints.fit import CheckpointMismatchError, require_checkpoint_fits


@pytest.fixture
def upernet(synthetic_potsdam, tmp_path):
    """The tiny UperNet's config file and its weights."""
    cfg = tiny_upernet_config(synthetic_potsdam, tmp_path / 'work')
    config = str(tmp_path / 'upernet.py')
    cfg.dump(config)
    init_default_scope('mmseg')
    return config, MODELS.build(cfg.model).state_dict()


def run_test_tool(monkeypatch, *argv):
    monkeypatch.setattr(sys, 'argv', ['test.py', *map(str, argv)])
    load_tool('test').main()


def test_test_tool_refuses_pretraining_backbone_only_and_truncated_checkpoints(upernet, tmp_path, monkeypatch):
    config, weights = upernet
    backbone = {key: value for key, value in weights.items() if key.startswith('backbone.')}
    pretraining = tmp_path / 'epoch_200.pth'
    torch.save(dict(state_dict=dict(backbone, **{'neck.fc0.weight': torch.zeros(4, 64)}), meta=dict(epoch=200)),
               pretraining)
    with pytest.raises(SystemExit) as error:
        run_test_tool(monkeypatch, config, pretraining)
    message = str(error.value)
    assert f'{pretraining} does not fit EncoderDecoder' in message
    missing = sum(not key.startswith('backbone.') for key in weights)
    assert f'{missing} weights of the model are missing (decode_head.' in message
    assert '1 weights are not in the model (neck.fc0.weight)' in message
    assert 'pre-training checkpoint' in message and 'export the backbone first' in message

    exported = tmp_path / 'backbone.pth'
    torch.save(dict(state_dict=backbone), exported)
    with pytest.raises(SystemExit, match='holds only backbone weights .*fine-tune it first'):
        run_test_tool(monkeypatch, config, exported)

    truncated = tmp_path / 'iter_80000.pth'
    torch.save(dict(state_dict=weights), truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(SystemExit, match=f'{truncated} is not a readable torch checkpoint \\(truncated'):
        run_test_tool(monkeypatch, config, truncated)
    with pytest.raises(SystemExit, match='checkpoint .*missing.pth does not exist'):
        run_test_tool(monkeypatch, config, tmp_path / 'missing.pth')


def test_fit_report_counts_and_shows_a_few_keys():
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 4))
    weights = {'0.weight': torch.zeros(3, 2), '0.bias': torch.zeros(5), 'extra.a': torch.zeros(1),
               'extra.b': torch.zeros(1), 'extra.c': torch.zeros(1), 'extra.d': torch.zeros(1)}
    with pytest.raises(CheckpointMismatchError) as error:
        require_checkpoint_fits(model, weights, 'ckpt.pth', 'use the right config')
    message = str(error.value)
    assert '2 weights of the model are missing (1.weight, 1.bias)' in message
    assert '4 weights are not in the model (extra.a, extra.b, extra.c, ...)' in message
    assert "1 weights have another shape than the model's (0.bias (5,) vs (3,))" in message
    assert message.endswith('Hint: use the right config')
    require_checkpoint_fits(model, model.state_dict(), 'ckpt.pth')  # an exact fit passes


def test_test_tool_loads_a_fitting_checkpoint_and_keeps_existing_predictions(upernet, tmp_path, monkeypatch):
    config, weights = upernet
    checkpoint = tmp_path / 'iter_6.pth'
    torch.save(dict(state_dict=weights), checkpoint)
    predictions = tmp_path / 'predictions'
    predictions.mkdir()
    (predictions / 'keep.png').write_bytes(b'earlier prediction')
    with pytest.raises(SystemExit, match='predictions already exists and is not empty; nothing was overwritten'):
        run_test_tool(monkeypatch, config, checkpoint, '--out', predictions)
    assert (predictions / 'keep.png').read_bytes() == b'earlier prediction'
    run_test_tool(monkeypatch, config, checkpoint, '--out', predictions, '--force',
                  '--work-dir', tmp_path / 'test')
    assert len(list(predictions.glob('*.png'))) == 3  # the two validation images and the earlier file
