"""A backbone export of the plugin (torchvision stem, ``conv1``) loaded into a deep-stem backbone (mmseg's
``ResNetV1c`` of every stock R50 config, ``stem.*``) is refused with a one-line hint wherever the plugin is
imported, instead of training on with a random stem; other checkpoints load as mmengine loads them."""
import re

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS

import rs_ssl_plugin  # noqa: F401
from helpers.tools import call_tool
from rs_ssl_plugin.checkpoints.export import StemMismatchError, export_backbone, require_stem_fits

STEM_HINT = ('torchvision stem (conv1) vs ResNetV1c deep stem (stem.*): use backbone type ResNet with '
             'deep_stem=False, as configs/upernet_r50_false_potsdam.py does')


@pytest.fixture
def exported_backbone(tmp_path):
    """``tools/export_backbone.py``'s output for a pre-training checkpoint of an mmpretrain ResNet-18 with a
    neck, and the ResNet-18's weights."""
    init_default_scope('mmpretrain')
    backbone = PRETRAIN_MODELS.build(dict(type='ResNet', depth=18))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.fc0.weight'] = torch.randn(4, 512)
    pretraining = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=state), pretraining)
    exported = str(tmp_path / 'backbone.pth')
    export_backbone(str(pretraining), exported)
    return exported, backbone.state_dict()


def stock_deeplab_r18(**model):
    """A stock mmseg segmentor the way ``deeplabv3plus_r18-d8_...potsdam`` builds it: a ResNetV1c-18."""
    init_default_scope('mmseg')
    return SEG_MODELS.build(ConfigDict(
        type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=18) | model.pop('backbone', {}),
        decode_head=dict(type='FCNHead', in_channels=512, channels=8, num_convs=1, num_classes=6), **model))


@pytest.mark.parametrize('how', ['backbone init_cfg', 'model pretrained', 'ChannelAdaptedPretrained'])
def test_export_into_a_deep_stem_backbone_is_refused_with_the_hint(exported_backbone, how):
    exported, _ = exported_backbone
    model = stock_deeplab_r18(**{
        'backbone init_cfg': dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=exported,
                                                              prefix='backbone.'))),
        'model pretrained': dict(pretrained=exported),  # mmseg hands it to the backbone without a prefix
        'ChannelAdaptedPretrained': dict(backbone=dict(init_cfg=dict(type='ChannelAdaptedPretrained',
                                                                     checkpoint=exported, prefix='backbone.'))),
    }[how])
    with pytest.raises(StemMismatchError) as error:
        model.init_weights()
    message = str(error.value)
    assert f'{exported} does not fit the stem of ResNetV1c' in message and 'stem.0.weight' in message
    assert STEM_HINT in message and '\n' not in message
    assert ("prefix='backbone.'" in message) == (how == 'model pretrained')


def test_export_without_prefix_into_a_torchvision_stem_says_to_pass_the_prefix(exported_backbone):
    exported, _ = exported_backbone
    init_default_scope('mmseg')
    backbone = SEG_MODELS.build(dict(type='ResNet', depth=18, init_cfg=dict(type='Pretrained', checkpoint=exported)))
    with pytest.raises(StemMismatchError, match=r"first layer backbone.conv1.weight .*Hint: load the weights with "
                                                r"prefix='backbone.'"):
        backbone.init_weights()


@pytest.mark.parametrize('first_layer, hint', [
    ('stem.0.weight', 'deep stem (stem.*) vs ResNet torchvision stem (conv1): use backbone type ResNetV1c'),
    ('patch_embed.projection.weight', 'the weights come from another architecture: use the backbone type'),
])
def test_other_first_layers_name_what_to_build(first_layer, hint):
    init_default_scope('mmseg')
    torchvision_stem = SEG_MODELS.build(dict(type='ResNet', depth=18))
    with pytest.raises(StemMismatchError, match=f'its first layer {first_layer} .*Hint: {re.escape(hint)}'):
        require_stem_fits(torchvision_stem, {first_layer: torch.zeros(32, 3, 3, 3)}, 'weights.pth')


def test_other_checkpoints_load_into_ResNetV1c_as_mmengine_loads_them(exported_backbone, tmp_path):
    """Only the plugin's files are checked: stock configs keep their meaning for anyone else's weights."""
    _, weights = exported_backbone
    foreign = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in weights.items()}, meta=dict(epoch=1)), foreign)
    model = stock_deeplab_r18(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=str(foreign),
                                                          prefix='backbone.')))
    model.init_weights()
    torch.testing.assert_close(model.backbone.layer4[1].conv2.weight, weights['layer4.1.conv2.weight'])


def test_export_into_a_torchvision_stem_loads_every_weight(exported_backbone):
    exported, weights = exported_backbone
    model = stock_deeplab_r18(backbone=dict(type='ResNet', init_cfg=dict(type='Pretrained', checkpoint=exported,
                                                                         prefix='backbone.')))
    model.init_weights()
    for key, value in weights.items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value, msg=key)


def test_export_tool_names_the_stem_mismatch_in_one_line(tmp_path):
    init_default_scope('mmpretrain')
    state = {f'backbone.{k}': v for k, v in PRETRAIN_MODELS.build(dict(type='ResNet', depth=18)).state_dict().items()}
    pretraining = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=state), pretraining)
    stock = tmp_path / 'deeplabv3plus_r18-d8_potsdam.py'
    stock.write_text("default_scope = 'mmseg'\n"
                     "model = dict(type='EncoderDecoder', backbone=dict(type='ResNetV1c', depth=18))\n")
    out = tmp_path / 'backbone.pth'
    result = call_tool('tools/export_backbone.py', pretraining, out, '--target-config', stock)
    assert result.returncode == 1 and result.stdout == ''
    assert result.stderr.count('\n') == 1 and STEM_HINT in result.stderr, result.stderr
    assert not out.exists()
