"""IDDC's released checkpoints ({'backbone', 'head_nonlinear', 'classifier'}, the official key names) convert to
the IDDC segmentor's keys and give the official model's cluster logits; tools/test.py can then score them."""
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from torch import nn

from rs_ssl_plugin.checkpoints.conversion import convert_checkpoint
from rs_ssl_plugin.checkpoints.reading import read_state_dict
from rs_ssl_plugin.methods.iddc.converter import convert_iddc_release

timm = pytest.importorskip('timm')


def official_release(seed=0):
    """The official DinoWithHead parts with random weights: DinoFeaturizer (ViT under ``model.``), the
    Conv3x3-ReLU-Conv1x1-ReLU head and the 1x1 classifier, saved as the release saves them."""
    torch.manual_seed(seed)
    vit = timm.models.vision_transformer.VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2,
                                                           num_heads=2, mlp_ratio=2, num_classes=0).eval()
    featurizer = nn.Module()
    featurizer.model = vit
    head = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(True), nn.Conv2d(32, 32, 1), nn.ReLU(True))
    classifier = nn.Conv2d(32, 5, 1)
    with torch.no_grad():
        for module in (vit, head, classifier):
            for param in module.parameters():
                param.add_(torch.randn_like(param) * 0.1)
    release = dict(backbone=featurizer.state_dict(), head_nonlinear=head.state_dict(),
                   classifier=classifier.state_dict())
    return release, (vit, head, classifier)


def tiny_iddc():
    init_default_scope('mmseg')
    return MODELS.build(dict(
        type='IDDC',
        data_preprocessor=dict(type='MultiViewSegDataPreProcessor', mean=[0., 0., 0.], std=[1., 1., 1.]),
        backbone=dict(type='mmpretrain.DINOVisionTransformer', _scope_='mmpretrain',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64), patch_size=8,
                      img_size=32, out_type='featmap', final_norm=True, qkv_bias=True),
        head=dict(type='IDDCHead', in_channels=32, num_clusters=5))).eval()


def test_release_round_trip_gives_the_official_logits(tmp_path):
    release, (vit, head, classifier) = official_release()
    torch.save(release, tmp_path / 'best_model.pth')
    assert set(read_state_dict(str(tmp_path / 'best_model.pth'))) == {
        f'{part}.{key}' for part, state in release.items() for key in state}
    model = tiny_iddc()
    report = convert_checkpoint(str(tmp_path / 'best_model.pth'), str(tmp_path / 'converted.pth'), 'iddc',
                                target_module=model)
    assert report.complete and not report.unexpected
    converted = torch.load(tmp_path / 'converted.pth', weights_only=True)['state_dict']
    assert all(key.split('.')[0] in ('backbone', 'head') for key in converted)  # whole-model keys, no prefix
    torch.testing.assert_close(converted['head.nonlinear.2.weight'], release['head_nonlinear']['2.weight'])
    torch.testing.assert_close(converted['head.classifier.bias'], release['classifier']['bias'])
    model.load_state_dict(converted, strict=True)
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = vit.forward_features(image)[:, 1:]
        features = tokens.transpose(1, 2).reshape(2, 32, 4, 4)
        expected = classifier(head(features))
        ours = model._forward(image)
    assert ours.shape == (2, 5, 4, 4)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_release_converter_names_what_is_wrong():
    release, _ = official_release()
    flat = {f'{part}.{k}': v for part, state in release.items() for k, v in state.items()}
    with pytest.raises(KeyError, match=r"no \['classifier'\] weights"):
        convert_iddc_release({k: v for k, v in flat.items() if not k.startswith('classifier.')})
    with pytest.raises(KeyError, match='not part of an IDDC release'):
        convert_iddc_release(dict(flat, **{'linear_probe.weight': torch.zeros(1)}))
