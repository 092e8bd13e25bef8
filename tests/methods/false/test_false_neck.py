"""FALSE's projection heads: the released linear head (one linear map) and the non-linear BatchNorm option."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

import rs_ssl_plugin  # noqa: F401
from rs_ssl_plugin.methods.false.neck import LinearProjectionNeck


def test_released_head_is_one_linear_map_with_the_official_keys():
    neck = LinearProjectionNeck(in_channels=8, hid_channels=16, out_channels=4)
    assert list(neck.state_dict()) == ['fc0.weight', 'fc0.bias', 'fc1.weight', 'fc1.bias']
    x = torch.randn(5, 8, 3, 3)
    pooled = x.mean(dim=(2, 3))
    composed = pooled @ (neck.fc1.weight @ neck.fc0.weight).t() + neck.fc1.weight @ neck.fc0.bias + neck.fc1.bias
    torch.testing.assert_close(neck((x, ))[0], composed)


def test_non_linear_bn_head_equals_linear_bn_relu_linear():
    torch.manual_seed(0)
    neck = LinearProjectionNeck(in_channels=8, hid_channels=16, out_channels=4, with_relu=True,
                                norm_cfg=dict(type='BN1d'))
    assert neck.fc0.bias is None and 'norm0.running_mean' in neck.state_dict()
    x = torch.randn(6, 8, 2, 2)
    hidden = x.mean(dim=(2, 3)) @ neck.fc0.weight.t()
    normalised = (hidden - hidden.mean(0)) / torch.sqrt(hidden.var(0, unbiased=False) + 1e-5)
    expected = torch.relu(normalised * neck.norm0.weight + neck.norm0.bias) @ neck.fc1.weight.t() + neck.fc1.bias
    torch.testing.assert_close(neck.train()((x, ))[0], expected, atol=1e-5, rtol=1e-5)
    # a ReLU of a linear map is no longer one linear map: doubling the input does not double the output
    neck.eval()
    assert not torch.allclose(neck((2 * x, ))[0] - neck.fc1.bias, 2 * (neck((x, ))[0] - neck.fc1.bias))


@pytest.mark.parametrize('head', [dict(), dict(with_relu=True, norm_cfg=dict(type='SyncBN'))])
def test_false_trains_with_either_head(head):
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(
        type='FALSE', backbone=dict(type='ResNet', depth=18),
        neck=dict(type='LinearProjectionNeck', in_channels=512, hid_channels=32, out_channels=16, **head),
        head=dict(type='FALSEHead'),
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[0., 0., 0.], std=[1., 1., 1.])))
    views = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)]
    losses = model.loss(views, None)
    losses['loss'].backward()
    assert torch.isfinite(losses['loss']) and model.neck.fc0.weight.grad.abs().sum() > 0
