"""ChannelsLastHook: the model's convolution weights become channels-last in place, and training is unchanged."""
import copy
from types import SimpleNamespace

import torch
from mmengine.model import BaseModel
from mmengine.registry import HOOKS
from torch import nn

from rs_ssl_plugin.engine import ChannelsLastHook


class TinyConvNet(BaseModel):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3))

    def forward(self, inputs, data_samples=None, mode='loss'):
        return dict(loss=self.body(inputs).square().mean())


def test_hook_is_registered_and_converts_weights_in_place():
    assert HOOKS.get('ChannelsLastHook') is ChannelsLastHook
    torch.manual_seed(0)
    model = TinyConvNet()
    before = {name: (param, param.detach().clone()) for name, param in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ChannelsLastHook().before_train(SimpleNamespace(model=model))
    for name, param in model.named_parameters():
        assert param is before[name][0]  # the optimiser still holds the model's parameters
        torch.testing.assert_close(param, before[name][1], rtol=0, atol=0)
        if param.dim() == 4:
            assert param.is_contiguous(memory_format=torch.channels_last) and not param.is_contiguous()
    assert optimizer.param_groups[0]['params'][0] is model.body[0].weight


def test_training_steps_match_the_default_layout():
    torch.manual_seed(0)
    reference = TinyConvNet()
    converted = copy.deepcopy(reference)
    ChannelsLastHook().before_train(SimpleNamespace(model=converted))
    inputs = torch.randn(4, 3, 12, 12)
    for model in (reference, converted):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(3):
            optimizer.zero_grad()
            model(inputs)['loss'].backward()
            optimizer.step()
    assert converted.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    for (name, ours), theirs in zip(converted.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5, msg=name)
