"""SDCluster's output-stride-16 Swin: the official key layout and parameter count of Swin-S, the strides and
odd input sizes of a tiny one."""
import torch
from mmengine.registry import init_default_scope

from rs_ssl_plugin.methods.sdcluster.backbone import SwinTransformerOS16


def official_swin_keys(depths=(2, 2, 18, 2)):
    """The official OS16 Swin key layout (spec 1.1), written out independently of the model code."""
    keys = ['patch_embed.proj.weight', 'patch_embed.proj.bias', 'patch_embed.norm.weight', 'patch_embed.norm.bias']
    for i, depth in enumerate(depths):
        for j in range(depth):
            block = f'layers.{i}.blocks.{j}.'
            keys += [block + k for k in (
                'norm1.weight', 'norm1.bias', 'attn.relative_position_bias_table', 'attn.relative_position_index',
                'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'norm2.weight',
                'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias')]
        if i < 2:
            keys += [f'layers.{i}.downsample.norm.weight', f'layers.{i}.downsample.norm.bias',
                     f'layers.{i}.downsample.reduction.weight']
        else:
            keys.append(f'layers.{i}.linear.weight')
        keys += [f'norm{i}.weight', f'norm{i}.bias']
    return keys


def test_swin_s_os16_layout_and_shapes():
    model = SwinTransformerOS16()
    assert sorted(model.state_dict()) == sorted(official_swin_keys())
    params = sum(p.numel() for p in model.parameters())
    assert round(params / 1e6, 2) == 49.13  # the official architecture's count (spec 1.1)
    assert model.layers[2].linear.weight.shape == (768, 384)
    assert model.layers[3].linear.weight.shape == (1536, 768)


def test_tiny_swin_strides_and_odd_sizes():
    init_default_scope('mmseg')
    model = SwinTransformerOS16(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 224, 224))
        assert [tuple(o.shape[1:]) for o in outs] == [(16, 56, 56), (32, 28, 28), (64, 14, 14), (128, 14, 14)]
        # the official script runs ClusterEval at native size: 300 x 410 -> 19 x 26 (spec 2)
        assert model(torch.rand(1, 3, 300, 410))[-1].shape[-2:] == (19, 26)
