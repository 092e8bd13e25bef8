"""mmengine 0.10.7 loads its own Runner checkpoints under torch >= 2.6 once the plugin is imported (weights
only); the mmcv 2.1 hue fix for numpy 2."""
import colorsys

import numpy as np
import pytest
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


def pillow_hue_reference(img, hue):
    """Pillow's 8-bit HSV written with the standard library: H and S stored as int(x * 255), V as the largest
    channel; the hue code shifted by int(hue * 255) modulo 256 (the uint8 wrap), then back to BGR.

    Pillow's own float rounding differs from this double-precision version on a few boundary pixels."""
    offset = int(hue * 255) % 256
    out = np.empty_like(img)
    for y, x in np.ndindex(img.shape[:2]):
        b, g, r = (int(c) / 255 for c in img[y, x])
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        shifted = (int(h * 255) + offset) % 256
        red, green, blue = colorsys.hsv_to_rgb(shifted / 255, int(s * 255) / 255, v)
        out[y, x] = [round(blue * 255), round(green * 255), round(red * 255)]
    return out


@pytest.mark.parametrize('backend', ['pillow', 'cv2'])
@pytest.mark.parametrize('hue', [-0.5, -0.2, 0.0, 0.3])
def test_adjust_hue_works_with_numpy2_and_matches_the_definition(backend, hue):
    """Hue channel shifted by (int(hue * 255) mod 256), wrapping, for negative factors too."""
    import cv2
    import mmcv
    img = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    out = mmcv.adjust_hue(img, hue, backend=backend)
    assert out.shape == img.shape and out.dtype == np.uint8
    if backend == 'cv2':
        h, s, v = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL))
        shifted = ((h.astype(int) + int(hue * 255)) % 256).astype(np.uint8)
        expected = cv2.cvtColor(cv2.merge([shifted, s, v]), cv2.COLOR_HSV2BGR_FULL)
        np.testing.assert_array_equal(out, expected)
    if backend == 'pillow':
        difference = np.abs(out.astype(int) - pillow_hue_reference(img, hue).astype(int))
        assert (difference == 0).mean() > 0.98 and difference.max() <= 6, (difference.max(), (difference > 0).mean())
    if hue == 0.0:
        assert np.abs(out.astype(int) - img.astype(int)).max() <= 8  # 8-bit HSV round trip only


def test_hue_fix_applies_only_to_mmcv_2_1_with_numpy_2(monkeypatch):
    import mmcv

    from rs_ssl_plugin.compat import adjust_hue, install_numpy2_fixes, needs_numpy2_fixes
    assert needs_numpy2_fixes('2.1.0', '2.0.2') and needs_numpy2_fixes('2.1.0', '2.4.6')
    assert not needs_numpy2_fixes('2.2.0', '2.4.6') and not needs_numpy2_fixes('2.1.0', '1.26.4')
    assert mmcv.adjust_hue is adjust_hue  # the pinned stack: mmcv 2.1.0, numpy 2
    stock = object()
    monkeypatch.setattr(mmcv, 'adjust_hue', stock)
    monkeypatch.setattr(mmcv, '__version__', '2.2.0')
    install_numpy2_fixes()
    assert mmcv.adjust_hue is stock
