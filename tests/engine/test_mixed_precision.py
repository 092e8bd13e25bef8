"""MixedPrecisionOptimWrapper (bf16 on the CPU, AmpOptimWrapper's fp16 on CUDA) and every method's train_step
under CPU bfloat16 autocast through the optimiser wrapper its config uses for AMP."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmpretrain.structures import DataSample

import rs_ssl_plugin.methods.false.head as false_head
import rs_ssl_plugin.methods.iddc.segmentor as iddc_segmentor
import rs_ssl_plugin.methods.sdcluster.algorithm as sdcluster_algorithm
import rs_ssl_plugin.methods.sdsh.loss as sdsh_loss
from helpers.sdcluster import sdcluster_batch
from helpers.tools import REPO
from rs_ssl_plugin.engine.mixed_precision import MixedPrecisionOptimWrapper, autocast_dtype
from rs_ssl_plugin.engine.runner_config import enable_amp
from rs_ssl_plugin.methods.sdsh.views import sample_ibot_masks

TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one CPU thread (more only wait on each other on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_autocast_dtype_defaults_and_refusals():
    assert autocast_dtype('cuda') == torch.float16  # AmpOptimWrapper's default: the released AMP recipes
    assert autocast_dtype('cpu') == torch.bfloat16
    assert autocast_dtype('cpu', 'bfloat16') == autocast_dtype('cpu', torch.bfloat16) == torch.bfloat16
    assert autocast_dtype('cuda', 'float16') == torch.float16
    with pytest.raises(ValueError, match='float16 autocast needs a GPU'):
        autocast_dtype('cpu', 'float16')
    with pytest.raises(ValueError, match='OptimWrapper'):
        autocast_dtype('cpu', 'float32')
    with pytest.raises(ValueError, match="'mps'"):
        autocast_dtype('mps')


def linear_model(device, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)).to(device)


def run_steps(model, wrapper, inputs, steps=3):
    for _ in range(steps):
        with wrapper.optim_context(model):
            out = model(inputs)
        wrapper.update_params(out.float().square().mean())
    return out


def test_cpu_wrapper_autocasts_bf16_and_steps_like_plain_sgd():
    inputs = torch.randn(32, 8)
    model = linear_model('cpu')
    wrapper = build_optim_wrapper(model, dict(type='MixedPrecisionOptimWrapper', loss_scale='dynamic',
                                              optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
                                              clip_grad=dict(max_norm=0.5)))
    assert isinstance(wrapper, MixedPrecisionOptimWrapper) and isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16 and not wrapper.loss_scaler.is_enabled()
    out = run_steps(model, wrapper, inputs)
    assert out.dtype == torch.bfloat16

    # reference: the same bf16 forward, unscaled backward, clipping and SGD by hand
    reference = linear_model('cpu')
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            loss = reference(inputs).float().square().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        optimizer.step()
        optimizer.zero_grad()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs)

    state = wrapper.state_dict()
    assert 'loss_scaler' in state
    wrapper.load_state_dict(state)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='float16 with loss scaling runs on CUDA')
def test_cuda_float16_matches_mmengine_amp_optim_wrapper():
    inputs = torch.randn(32, 8, device='cuda')
    results = []
    for wrapper_type in ('AmpOptimWrapper', 'MixedPrecisionOptimWrapper'):
        model = linear_model('cuda')
        wrapper = build_optim_wrapper(model, dict(type=wrapper_type, loss_scale='dynamic',
                                                  optimizer=dict(type='SGD', lr=0.1), clip_grad=dict(max_norm=0.5)))
        out = run_steps(model, wrapper, inputs)
        assert out.dtype == torch.float16
        results.append(([p.detach().clone() for p in model.parameters()], wrapper.loss_scaler.get_scale()))
    (amp_params, amp_scale), (ours_params, our_scale) = results
    assert our_scale == amp_scale == 65536.0
    for ours, theirs in zip(ours_params, amp_params):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize('device', DEVICES)
def test_bfloat16_needs_no_loss_scale(device):
    model = linear_model(device)
    wrapper = build_optim_wrapper(model, dict(type='MixedPrecisionOptimWrapper', dtype='bfloat16',
                                              optimizer=dict(type='SGD', lr=0.1)))
    before = [p.detach().clone() for p in model.parameters()]
    assert run_steps(model, wrapper, torch.randn(32, 8, device=device)).dtype == torch.bfloat16
    assert not wrapper.loss_scaler.is_enabled()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


# Every method's train_step under CPU bf16 autocast, through its config's AMP optimiser wrapper ---------------

class Recorder:
    """Records the dtypes of what chosen functions return and what chosen modules output."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.dtypes = {}

    def _note(self, name, value):
        values = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        floats = [v for v in values if torch.is_tensor(v) and v.is_floating_point()]
        self.dtypes.setdefault(name, set()).update(v.dtype for v in floats)
        return value

    def function(self, module, name):
        original = getattr(module, name)
        self.monkeypatch.setattr(module, name, lambda *args, **kwargs: self._note(name, original(*args, **kwargs)))

    def module_output(self, name, module):
        module.register_forward_hook(lambda _module, _inputs, output: self._note(name, output))


def config(name, amp=True):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    if amp:
        enable_amp(cfg)  # what tools/train.py --amp does
    return cfg


# bfloat16 keeps 8 significant bits (about 0.4 % per rounding): a loss after a few layers of such roundings
# stays within a few percent of its float32 value
BF16_LOSS_TOLERANCE = dict(rel=0.05, abs=0.02)


def losses_of_one_forward(model, data, autocast):
    """The loss terms of one training forward of a copy of ``model`` (hooks removed), in float32 or under CPU
    bfloat16 autocast, from the same random state."""
    model = copy.deepcopy(model)
    for module in model.modules():
        module._forward_hooks.clear()
    torch.manual_seed(0)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        losses = model._run_forward(model.data_preprocessor(copy.deepcopy(data), True), mode='loss')
    return {key: float(value.float().mean()) for key, value in losses.items()
            if 'loss' in key and torch.is_tensor(value)}


def assert_bfloat16_losses_agree_with_float32(model, data, relative_tolerance=None):
    """Every loss term of the bfloat16 forward is within ``BF16_LOSS_TOLERANCE`` of the float32 one, or within
    ``relative_tolerance[key]`` for the terms named there."""
    bfloat16, float32 = (losses_of_one_forward(model, data, autocast) for autocast in (True, False))
    assert float32 and bfloat16.keys() == float32.keys()
    for key, value in float32.items():
        tolerance = dict(BF16_LOSS_TOLERANCE, rel=(relative_tolerance or {}).get(key, BF16_LOSS_TOLERANCE['rel']))
        assert bfloat16[key] == pytest.approx(value, **tolerance), (key, bfloat16[key], value)


def train_steps(model, cfg, data, steps=2, lr=None, relative_tolerance=None):
    """The bfloat16 losses checked against float32 (:func:`assert_bfloat16_losses_agree_with_float32`), then
    ``steps`` train_steps on ``data`` through the optimiser wrapper the config builds; the losses."""
    assert_bfloat16_losses_agree_with_float32(model, data, relative_tolerance)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    if lr is not None:  # SDSH's lr comes from SDSHScheduleHook
        for group in wrapper.param_groups:
            group['lr'] = lr
    assert wrapper.cast_dtype == torch.bfloat16 and not wrapper.loss_scaler.is_enabled()
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    history = [model.train_step(data, wrapper) for _ in range(steps)]
    for log_vars in history:
        assert all(np.isfinite(float(v)) for v in log_vars.values()), log_vars
    after = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    return wrapper, history


def test_false_train_step_keeps_its_loss_in_float32(monkeypatch):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cfg = config('false_r50_potsdam.py')
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
    cfg.model.backbone.update(depth=18, stem_channels=8, base_channels=8, norm_cfg=dict(type='BN'))
    cfg.model.neck.update(in_channels=64, hid_channels=32, out_channels=16)
    model = MODELS.build(cfg.model)
    record = Recorder(monkeypatch)
    record.module_output('neck', model.neck)
    record.function(false_head, 'false_loss')
    # bf16 convolutions are slow on CPUs without bf16 instructions: tiny images
    views = [torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8) for _ in range(2)]
    train_steps(model, cfg, dict(inputs=views, data_samples=[DataSample() for _ in range(4)]))
    assert record.dtypes['neck'] == {torch.bfloat16}  # autocast was on
    assert record.dtypes['false_loss'] == {torch.float32}


def test_sdcluster_shipped_wrapper_trains_on_cpu_with_float32_targets_and_losses(monkeypatch):
    from mmengine.logging import MessageHub
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cfg = config('sdcluster_swin-s_millionaid.py', amp=False)  # AMP as released, no --amp needed
    cfg.model.backbone.update(embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4))
    cfg.model.neck.update(in_channels=128, hidden_channels=32, out_channels=16)
    cfg.model.prototypes.update(num_prototypes=8, dim=16)
    cfg.model.predictor.update(in_channels=16, hidden_channels=32, out_channels=16)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    model.init_weights()
    record = Recorder(monkeypatch)
    record.module_output('neck', model.neck)
    for name in ('sinkhorn_knopp', 'pixel_distillation_loss', 'filtered_slot_contrastive_loss'):
        record.function(sdcluster_algorithm, name)
    # the slot contrast keeps the slots of the clusters each pixel's argmax picks; in a random tiny model the
    # cluster scores are nearly tied, so bfloat16 rounding changes some slots and the loss by up to ~10 %
    train_steps(model, cfg, sdcluster_batch(2, 32), relative_tolerance=dict(loss_ctr=0.15))
    assert record.dtypes['neck'] == {torch.bfloat16}
    assert record.dtypes['sinkhorn_knopp'] == {torch.float32}
    assert record.dtypes['pixel_distillation_loss'] == {torch.float32}
    assert record.dtypes['filtered_slot_contrastive_loss'] == {torch.float32}


def test_sdsh_amp_wrapper_trains_on_cpu_with_float32_cross_entropies(monkeypatch):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cfg = config('sdsh_vit-s14_aid-64bit.py')
    assert cfg.optim_wrapper.type == 'SDSHAmpOptimWrapper'
    head = dict(num_prototypes=64, hidden_channels=32, bottleneck_channels=16)
    cfg.model.backbone.update(arch=TINY_VIT, img_size=28, local_img_size=14, patch_size=7, hash_bits=16,
                              ibot_channels=16, init_cfg=None)
    cfg.model.dino_head.update(head)
    cfg.model.ibot_head.update(head)
    cfg.model.loss_weights.koleo = 0.01
    model = MODELS.build(cfg.model)
    model.init_weights()
    record = Recorder(monkeypatch)
    record.module_output('dino_head', model.dino_head)
    for name in ('cross_entropy', 'koleo_loss', 'hash_quantization_loss', 'centered_teacher_softmax'):
        record.function(sdsh_loss, name)
    batch = 3
    crops = [torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8) for size in (28, 28, 14, 14)]
    masks = sample_ibot_masks(2 * batch, (4, 4))
    samples = []
    for i in range(batch):
        samples.append(DataSample())
        samples[-1].set_mask(masks[[i, batch + i]])
    wrapper, history = train_steps(model, cfg, dict(inputs=crops, data_samples=samples), lr=1e-3)
    assert {'loss_dino_local', 'loss_dino_global', 'loss_ibot', 'loss_koleo', 'loss_hash_reg'} <= set(history[0])
    assert record.dtypes['dino_head'] == {torch.bfloat16}
    for name in ('cross_entropy', 'koleo_loss', 'hash_quantization_loss', 'centered_teacher_softmax'):
        assert record.dtypes[name] == {torch.float32}, name


def seg_batch(count, channels, size, classes):
    """uint8 images with labels and metainfo, as mmseg's pipeline packs them."""
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(count):
        samples.append(SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                                   pad_shape=(size, size))))
        samples[-1].gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, size, size)))
    inputs = [torch.randint(0, 256, (channels, size, size), dtype=torch.uint8) for _ in range(count)]
    return dict(inputs=inputs, data_samples=samples)


def test_iddc_train_step_keeps_its_losses_in_float32(monkeypatch):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = config('iddc_vit-s16_potsdam3.py')
    cfg.model.backbone.update(arch=TINY_VIT, patch_size=8, img_size=32, init_cfg=None)
    cfg.model.head.in_channels = 32
    cfg.model.data_preprocessor.size = (32, 32)
    model = MODELS.build(cfg.model)
    record = Recorder(monkeypatch)
    record.module_output('head', model.head)
    record.function(iddc_segmentor, 'iddc_loss')
    train_steps(model, cfg, seg_batch(4, channels=6, size=32, classes=3))  # two views stacked
    assert record.dtypes['head'] == {torch.bfloat16}
    assert record.dtypes['iddc_loss'] == {torch.float32}


def test_upernet_finetuning_keeps_its_losses_in_float32(monkeypatch):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cfg = config('upernet_r50_false_potsdam.py')
    norm = dict(type='BN', requires_grad=True)
    cfg.model.backbone.update(depth=18, stem_channels=8, base_channels=8, norm_cfg=norm, init_cfg=None)
    cfg.model.decode_head.update(in_channels=[8, 16, 32, 64], channels=16, norm_cfg=norm)
    cfg.model.auxiliary_head.update(in_channels=32, channels=8, norm_cfg=norm)
    cfg.model.data_preprocessor.size = (16, 16)
    model = MODELS.build(cfg.model)
    record = Recorder(monkeypatch)
    record.module_output('decode_head.conv_seg', model.decode_head.conv_seg)
    for name, head in (('loss_decode', model.decode_head), ('loss_auxiliary', model.auxiliary_head)):
        record.module_output(name, head.loss_decode)
    train_steps(model, cfg, seg_batch(2, channels=3, size=16, classes=6))
    assert record.dtypes['decode_head.conv_seg'] == {torch.bfloat16}
    assert record.dtypes['loss_decode'] == record.dtypes['loss_auxiliary'] == {torch.float32}
