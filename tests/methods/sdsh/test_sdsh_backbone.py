"""SDSHViT equals timm's DINOv2 ViT-S/14 for the same weights saved under the official key names."""
import pytest
import torch
import torch.nn.functional as F
from test_sdsh_common import TINY_BACKBONE

import rs_ssl_plugin  # noqa: F401
from rs_ssl_plugin.checkpoints.conversion import convert_checkpoint
from rs_ssl_plugin.methods.sdsh.backbone import SDSHViT
from rs_ssl_plugin.methods.sdsh.converter import convert_dinov2_vit
from rs_ssl_plugin.methods.sdsh.pooling import AttentionWeightedPooling
from rs_ssl_plugin.models.vit import interpolate_pos_embed

timm = pytest.importorskip('timm')


def randomised_official_checkpoint(seed=0):
    """A timm DINOv2 ViT-S/14 at 518 px with every tensor random; its keys are the official ones."""
    torch.manual_seed(seed)
    model = timm.create_model('vit_small_patch14_dinov2', pretrained=False, img_size=518, num_classes=0)
    state = {k: torch.randn_like(v) * 0.2 for k, v in model.state_dict().items()}
    state['mask_token'] = torch.randn(1, 384)
    return state


def reference_resize(pos_embed, grid, offset=None):
    """Plain bicubic resize of the patch grid (class token kept); by size, or by DINOv2's offset scale."""
    src = int((pos_embed.size(1) - 1) ** 0.5)
    patch = pos_embed[:, 1:].reshape(1, src, src, -1).permute(0, 3, 1, 2)
    if offset is None:
        patch = F.interpolate(patch, size=(grid, grid), mode='bicubic', align_corners=False)
    else:
        patch = F.interpolate(patch, scale_factor=((grid + offset) / src, ) * 2, mode='bicubic')
    return torch.cat([pos_embed[:, :1], patch.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], 1)


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    state = randomised_official_checkpoint()
    path = tmp_path_factory.mktemp('dinov2') / 'dinov2_vits14_pretrain.pth'
    torch.save(state, path)
    return state, path


def test_official_keys_match_the_documented_layout(official):
    state, _ = official
    assert state['pos_embed'].shape == (1, 1370, 384)
    expected = {'blocks.0.norm1.weight', 'blocks.0.attn.qkv.weight', 'blocks.0.attn.proj.bias', 'blocks.0.ls1.gamma',
                'blocks.0.norm2.bias', 'blocks.0.mlp.fc1.weight', 'blocks.0.mlp.fc2.bias', 'blocks.11.ls2.gamma',
                'norm.weight', 'cls_token', 'patch_embed.proj.weight', 'mask_token'}
    assert expected <= set(state)


def test_converted_vit_equals_timm_at_224_and_98(official, tmp_path):
    state, path = official
    dst = tmp_path / 'converted.pth'
    convert_checkpoint(str(path), str(dst), 'dinov2-vit')
    converted = torch.load(dst, map_location='cpu', weights_only=False)['state_dict']
    backbone = SDSHViT(arch='dinov2-small', img_size=224, local_img_size=98, patch_size=14)
    weights = {k[len('backbone.'):]: v for k, v in converted.items()}
    result = backbone.load_state_dict(weights, strict=False)
    assert not result.unexpected_keys
    sdsh_only = ('pool_global.', 'pool_local.', 'hash_layer.', 'ibot_projection.')
    assert result.missing_keys and all(k.startswith(sdsh_only) for k in result.missing_keys)
    assert torch.equal(backbone.mask_token, state['mask_token'])
    backbone.eval()

    # 224 px: the pos-embed was resized once at conversion, by size, like the official loader
    timm_224 = timm.create_model('vit_small_patch14_dinov2', pretrained=False, img_size=224, num_classes=0).eval()
    timm_224.load_state_dict({**{k: v for k, v in state.items() if k != 'mask_token'},
                              'pos_embed': reference_resize(state['pos_embed'], 16)})
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(backbone.forward_tokens(x), timm_224.forward_features(x), atol=1e-4)

    # 98 px local crops: DINOv2 resizes 16x16 -> 7x7 at run time with the 0.1 offset
    timm_98 = timm.create_model('vit_small_patch14_dinov2', pretrained=False, img_size=98, num_classes=0).eval()
    timm_98.load_state_dict({**timm_224.state_dict(),
                             'pos_embed': reference_resize(timm_224.pos_embed.detach(), 7, offset=0.1)})
    x = torch.randn(2, 3, 98, 98)
    with torch.no_grad():
        assert torch.allclose(backbone.forward_tokens(x), timm_98.forward_features(x), atol=1e-4)


def test_official_state_dict_loads_directly(official, tmp_path):
    """init_cfg=Pretrained on the raw official file (no converter run) gives the converted weights."""
    state, path = official
    direct = SDSHViT(arch='dinov2-small', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    direct.init_weights()
    converted = convert_dinov2_vit(dict(state))
    for key, value in converted.items():
        assert torch.allclose(direct.state_dict()[key], value, atol=1e-6), key
    with torch.no_grad():  # also under a parent module's prefix
        parent = torch.nn.Module()
        parent.backbone = SDSHViT(arch='dinov2-small')
        result = parent.load_state_dict({f'backbone.{k}': v for k, v in state.items()}, strict=False)
    assert not result.unexpected_keys
    assert torch.equal(parent.backbone.layers[11].ffn.gamma2.weight, state['blocks.11.ls2.gamma'])


def test_offset_interpolation_differs_from_size_interpolation():
    pos = torch.randn(1, 1 + 256, 8)
    by_offset = interpolate_pos_embed(pos, (16, 16), (7, 7), 0.1)
    assert torch.allclose(by_offset, reference_resize(pos, 7, offset=0.1), atol=1e-6)
    assert not torch.allclose(by_offset, interpolate_pos_embed(pos, (16, 16), (7, 7), 0.0), atol=1e-4)
    assert interpolate_pos_embed(pos, (16, 16), (16, 16)) is pos


def test_converter_rejects_foreign_keys():
    with pytest.raises(ValueError, match='register_tokens'):
        convert_dinov2_vit({'cls_token': torch.zeros(1, 1, 4), 'register_tokens': torch.zeros(1, 4, 4)})


def test_mask_token_replaces_masked_patches_only():
    torch.manual_seed(0)
    vit = SDSHViT(**{k: v for k, v in TINY_BACKBONE.items() if k != 'type'})
    vit.init_weights()
    vit.eval()
    with torch.no_grad():
        vit.mask_token.normal_()
    x = torch.randn(2, 3, 28, 28)
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    with torch.no_grad():
        plain = vit.forward_tokens(x)
        assert torch.equal(vit.forward_tokens(x, masks), plain)
        masks[0, 1, 2] = True
        masked = vit.forward_tokens(x, masks)
    assert torch.allclose(masked[1], plain[1], atol=1e-6) and not torch.allclose(masked[0], plain[0])
    out = vit.forward_hash(torch.randn(3, 3, 14, 14))
    assert out['hash'].shape == (3, 16) and out['pooled'].shape == (3, 64) and out['ibot'].shape == (3, 4, 16)
    with pytest.raises(ValueError, match='pools 16 .global. or 4 .local.'):
        vit.forward_hash(torch.randn(1, 3, 21, 21))


def test_attention_weighted_pooling_formula():
    torch.manual_seed(0)
    pool = AttentionWeightedPooling(4, 5, 3)
    cls, patches = torch.randn(2, 4), torch.randn(2, 3, 4)
    lin1, lin2 = pool.attention[0], pool.attention[2]
    for b in range(2):
        g = torch.cat([cls[b], patches[b].mean(0)])
        a = torch.sigmoid(lin2(F.gelu(lin1(g))))
        weighted = sum(a[n] * patches[b, n] for n in range(3)) / 3  # mean over N, not normalised
        expected = F.layer_norm(torch.cat([cls[b], weighted]), (8, ), pool.norm.weight, pool.norm.bias, 1e-6)
        assert torch.allclose(pool(cls, patches)[b], expected, atol=1e-6)


SDSH_MODULES = ('mask_token', 'pool_global.', 'pool_local.', 'hash_layer.', 'ibot_projection.')


def tiny_vit(**kwargs):
    return SDSHViT(**{k: v for k, v in TINY_BACKBONE.items() if k != 'type'}, **kwargs)


def test_pretrained_init_keeps_every_weight_of_a_trained_backbone(tmp_path):
    """A trained SDSH backbone loaded through init_cfg=Pretrained keeps its pooling, hash and iBOT layers."""
    torch.manual_seed(0)
    trained = tiny_vit()
    with torch.no_grad():
        for value in trained.state_dict().values():
            if value.is_floating_point():
                value.normal_()
    path = tmp_path / 'sdsh.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in trained.state_dict().items()}), path)
    loaded = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    loaded.init_weights()
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_pretrained_init_draws_what_the_checkpoint_lacks(tmp_path):
    """A plain ViT checkpoint (no SDSH layers, as DINOv2's): the ViT is loaded, the SDSH Linear layers get
    DINOv2's truncated-normal init (std 0.02, zero bias)."""
    torch.manual_seed(0)
    vit = {k: torch.randn_like(v) for k, v in tiny_vit().state_dict().items()
           if not k.startswith(SDSH_MODULES) and v.is_floating_point()}
    path = tmp_path / 'vit.pth'
    torch.save(dict(state_dict=vit), path)
    loaded = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    loaded.init_weights()
    state = loaded.state_dict()
    for key, value in vit.items():
        assert torch.equal(state[key], value), key
    for module in (loaded.pool_global, loaded.pool_local, loaded.hash_layer, loaded.ibot_projection):
        for layer in module.modules():
            if isinstance(layer, torch.nn.Linear):
                assert 0.015 < layer.weight.std() < 0.025
                assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
    first = state['hash_layer.0.weight'].clone()
    loaded.init_weights()  # a second call (mmengine warns) must not redraw anything
    assert torch.equal(loaded.hash_layer[0].weight, first)


def test_missing_pretrained_checkpoint_names_the_conversion_command(tmp_path):
    missing = tmp_path / 'pretrain' / 'dinov2_vits14_224.pth'
    vit = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=str(missing)))
    command = (f'python tools/model_converters/convert_official.py dinov2_vits14_pretrain.pth {missing} '
               '--format dinov2-vit')
    with pytest.raises(FileNotFoundError) as error:
        vit.init_weights()
    assert str(missing) in str(error.value) and command in str(error.value)
    assert 'dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth' in str(error.value)


def test_stochastic_depth_adds_the_residual_to_a_fixed_subset_scaled():
    """DINOv2's batch-subset stochastic depth: exactly max(int(b (1 - rate)), 1) rows get the residual, times
    b / subset; the others are unchanged."""
    from rs_ssl_plugin.methods.sdsh.backbone import drop_add_residual
    x = torch.randn(128, 3, 4)
    seen = []

    def residual(rows):
        seen.append(rows.size(0))
        return torch.ones_like(rows)

    out = drop_add_residual(x, residual, 0.05)
    changed = (out != x).flatten(1).any(dim=1)
    assert seen == [121] and int(changed.sum()) == 121
    torch.testing.assert_close(out[changed] - x[changed], torch.full((121, 3, 4), 128 / 121))
    assert torch.equal(out[~changed], x[~changed])
    assert drop_add_residual(x[:1], residual, 0.9).ne(x[:1]).all()  # at least one row always kept


def test_sdsh_vit_blocks_drop_batch_subsets_in_training_only():
    torch.manual_seed(0)
    vit = tiny_vit()  # drop_path_rate 0.05
    rows = {}
    for name in ('attn', 'ffn'):
        module = getattr(vit.layers[0], name)
        branch = module if name == 'attn' else module.layers
        branch.register_forward_hook(lambda m, args, out, name=name: rows.setdefault(name, []).append(args[0].size(0)))
    images = torch.randn(40, 3, 28, 28)
    vit.train()
    vit.forward_tokens(images)
    assert rows == dict(attn=[38], ffn=[38])  # int(40 x 0.95)
    vit.eval()
    rows.clear()
    with torch.no_grad():
        tokens = vit.forward_tokens(images)
        reference, grid = vit.patch_embed(images)
        reference = torch.cat([vit.cls_token.expand(40, -1, -1), reference], 1) + vit.resized_pos_embed(grid)
        for layer in vit.layers:
            reference = layer(reference)
    assert rows == dict(attn=[40, 40], ffn=[40, 40])
    torch.testing.assert_close(tokens, vit.ln1(reference))
