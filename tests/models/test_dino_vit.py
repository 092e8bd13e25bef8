"""DINOVisionTransformer: DINO's +0.1 position-embedding interpolation, against a DINO-style reference built on
timm's ViT with the same weights (mmpretrain's ViT resizes by size and differs away from 224 px)."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models import VisionTransformer

import rs_ssl_plugin  # noqa: F401
from rs_ssl_plugin.methods.iddc.converter import convert_dino_vit
from rs_ssl_plugin.models.vit import DINOVisionTransformer, interpolate_pos_embed

timm = pytest.importorskip('timm')
ARCH = dict(embed_dims=48, num_layers=2, num_heads=3, feedforward_channels=96)


def dino_reference_tokens(model, image):
    """DINO's prepare_tokens written out: patch embedding, class token, the position embedding resized with
    scale factor (grid + 0.1) / sqrt(N), bicubic, unless the grid is the stored one; then the blocks and the
    final norm. Patch tokens only."""
    tokens = model.patch_embed.proj(image).flatten(2).transpose(1, 2)
    tokens = torch.cat([model.cls_token.expand(image.size(0), -1, -1), tokens], dim=1)
    num = model.pos_embed.shape[1] - 1
    side = int(math.sqrt(num))
    h0, w0 = image.shape[2] // 16 + 0.1, image.shape[3] // 16 + 0.1
    pos = model.pos_embed
    if tokens.size(1) - 1 != num:
        patch = pos[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, scale_factor=(h0 / side, w0 / side), mode='bicubic')
        pos = torch.cat([pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, -1, patch.size(1))], dim=1)
    tokens = tokens + pos
    for block in model.blocks:
        tokens = block(tokens)
    return model.norm(tokens)[:, 1:]


@pytest.fixture(scope='module')
def official():
    torch.manual_seed(0)
    model = timm.models.vision_transformer.VisionTransformer(img_size=224, patch_size=16, embed_dim=48, depth=2,
                                                             num_heads=3, mlp_ratio=2, num_classes=0)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.2)
    return model.eval()


def backbone(cls, official, **kwargs):
    model = cls(arch=ARCH, patch_size=16, img_size=224, out_type='featmap', final_norm=True, qkv_bias=True, **kwargs)
    model.load_state_dict(convert_dino_vit(official.state_dict()), strict=True)
    model.eval()  # mmpretrain backbones' train() returns None
    return model


def test_offset_interpolation_matches_dino_where_resizing_by_size_does_not(official):
    image = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        reference = dino_reference_tokens(official, image)
        ours = backbone(DINOVisionTransformer, official)(image)[-1].flatten(2).transpose(1, 2)
        stock = backbone(VisionTransformer, official)(image)[-1].flatten(2).transpose(1, 2)
    assert ours.shape == (1, 400, 48)
    assert (ours - reference).abs().max() < 1e-5
    assert (stock - reference).abs().max() > 1e-3  # mmpretrain's size-based resize samples other positions
    with torch.no_grad():  # at the training size nothing is resized: all three agree
        small = torch.randn(2, 3, 224, 224)
        assert torch.allclose(backbone(DINOVisionTransformer, official)(small)[-1].flatten(2).transpose(1, 2),
                              dino_reference_tokens(official, small), atol=1e-5)


def test_offset_zero_resizes_by_size_like_mmpretrain(official):
    image = torch.randn(1, 3, 288, 256)
    with torch.no_grad():
        by_size = backbone(DINOVisionTransformer, official, interpolate_offset=0.0)(image)[-1]
        stock = backbone(VisionTransformer, official)(image)[-1]
    assert torch.allclose(by_size, stock, atol=1e-6)
    pos = torch.randn(1, 2 + 16, 4)  # two extra tokens are kept in front
    resized = interpolate_pos_embed(pos, (4, 4), (6, 5), 0.1, num_extra_tokens=2)
    assert resized.shape == (1, 2 + 30, 4) and torch.equal(resized[:, :2], pos[:, :2])
