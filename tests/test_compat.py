"""mmengine 0.10.7 must load its own Runner checkpoints under torch >= 2.6 once the plugin is imported."""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

import rs_ssl_plugin  # noqa: F401


def test_runner_style_checkpoint_loads(tmp_path):
    hub = MessageHub.get_instance('test_compat')
    hub.update_scalar('train/loss', 1.5)
    checkpoint = dict(meta=dict(epoch=1, seed=np.int64(0)), state_dict=dict(w=torch.ones(2)),
                      message_hub=hub.state_dict(), optimizer=dict(state={}, param_groups=[]))
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    path = tmp_path / 'epoch_1.pth'
    torch.save(checkpoint, path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    torch.testing.assert_close(loaded['state_dict']['w'], torch.ones(2))
    assert loaded['meta']['epoch'] == 1


def test_missing_checkpoint_names_the_file(tmp_path):
    missing = tmp_path / 'nope.pth'
    try:
        _load_checkpoint(str(missing))
    except FileNotFoundError as error:
        assert str(missing) in str(error)
    else:
        raise AssertionError('expected FileNotFoundError')
