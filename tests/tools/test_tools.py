"""Backbone export, the work_dir guard and the command-line tools (CPU, a few seconds each)."""
import glob
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS
from torch import nn

from helpers.tools import REPO, call_tool, load_tool, train_tool_config
from rs_ssl_plugin.checkpoints.export import export_backbone
from rs_ssl_plugin.checkpoints.reading import read_state_dict
from rs_ssl_plugin.engine.runner_config import check_amp_device, disable_amp, enable_amp
from rs_ssl_plugin.utils.work_dir import check_work_dir_is_fresh, resolve_work_dir


def run_tool(*args, timeout=300):
    """Run ``python <args>`` from the repository root in a fresh process; the CompletedProcess. For what only a
    new interpreter shows (import-time warnings, the entry point); :func:`call_tool` is faster otherwise."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def ssl_checkpoint(tmp_path):
    """A Runner-style checkpoint of an mmpretrain ResNet-18 with a neck and non-tensor entries."""
    init_default_scope('mmpretrain')
    backbone = PRETRAIN_MODELS.build(dict(type='ResNet', depth=18))
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state['neck.fc0.weight'] = torch.randn(4, 512)
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=state, message_hub=dict(runtime_info={'iter': 3}),
                    optimizer=dict(state={})), path)
    return str(path), backbone


def build_seg_resnet18(**kwargs):
    init_default_scope('mmseg')
    return SEG_MODELS.build(dict(type='ResNet', depth=18, **kwargs))


def test_export_keeps_only_backbone_and_loads_into_mmseg_resnet(ssl_checkpoint, tmp_path):
    path, backbone = ssl_checkpoint
    out = str(tmp_path / 'backbone.pth')
    report = export_backbone(path, out, target_module=build_seg_resnet18())
    assert report.complete and not report.unexpected
    assert len(report.loaded) == len(backbone.state_dict())
    exported = torch.load(out, weights_only=True)  # tensor-only: no pickled Runner state
    assert set(exported) == {'state_dict', 'meta'} and exported['meta']['prefix'] == 'backbone.'
    assert set(exported['state_dict']) == {f'backbone.{k}' for k in backbone.state_dict()}
    target = build_seg_resnet18(init_cfg=dict(type='Pretrained', checkpoint=out, prefix='backbone.'))
    target.init_weights()
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value, msg=key)


def test_export_loads_like_load_from_into_a_model_with_a_backbone(ssl_checkpoint, tmp_path):
    """``load_from`` loads the whole file into the model, so the ``backbone.`` keys must match exactly."""
    path, backbone = ssl_checkpoint
    out = str(tmp_path / 'backbone.pth')
    export_backbone(path, out)
    model = nn.Module()
    model.backbone = build_seg_resnet18()
    load_checkpoint(model, out, strict=True)
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value, msg=key)


@pytest.mark.parametrize('wrap', [lambda sd: sd, lambda sd: dict(model=sd), lambda sd: dict(state_dict=sd)])
def test_read_state_dict_accepts_raw_and_wrapped_dicts(tmp_path, wrap):
    path = tmp_path / 'weights.pth'
    torch.save(wrap({'backbone.conv1.weight': torch.ones(2)}), path)
    assert list(read_state_dict(str(path))) == ['backbone.conv1.weight']


def test_export_fails_when_target_would_miss_weights(ssl_checkpoint, tmp_path):
    path, _ = ssl_checkpoint
    out = tmp_path / 'backbone.pth'
    init_default_scope('mmseg')
    deeper = SEG_MODELS.build(dict(type='ResNet', depth=34))
    with pytest.raises(ValueError, match='missing: layer1.2.conv1.weight') as error:
        export_backbone(path, str(out), target_module=deeper)
    assert 'missing: layer1.2.bn2.num_batches_tracked' in str(error.value)
    assert not out.exists()


def test_export_refuses_to_overwrite_and_names_bad_input(ssl_checkpoint, tmp_path):
    path, _ = ssl_checkpoint
    out = tmp_path / 'backbone.pth'
    out.write_bytes(b'keep me')
    with pytest.raises(FileExistsError, match='backbone.pth already exists'):
        export_backbone(path, str(out))
    assert out.read_bytes() == b'keep me'
    with pytest.raises(ValueError, match=r"epoch_1.pth has no weights under 'encoder_q.'.*'backbone.', 'neck.'"):
        export_backbone(path, str(tmp_path / 'other.pth'), prefix='encoder_q.')
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        export_backbone(str(tmp_path / 'nothing.pth'), str(tmp_path / 'other.pth'))
    assert not (tmp_path / 'other.pth').exists()


def test_work_dir_guard(tmp_path):
    check_work_dir_is_fresh(str(tmp_path / 'new'), resume=False)
    check_work_dir_is_fresh(str(tmp_path), resume=False)  # exists, but empty
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    with pytest.raises(FileExistsError, match=f'{tmp_path}.*epoch_3.pth.*--resume'):
        check_work_dir_is_fresh(str(tmp_path), resume=False)
    check_work_dir_is_fresh(str(tmp_path), resume=True)
    only_pointer = tmp_path / 'other'
    only_pointer.mkdir()
    (only_pointer / 'last_checkpoint').write_text('x')
    with pytest.raises(FileExistsError, match='last_checkpoint'):
        check_work_dir_is_fresh(str(only_pointer), resume=False)


def test_work_dir_priority():
    assert resolve_work_dir('cli', 'cfg', 'configs/a.py') == 'cli'
    assert resolve_work_dir(None, 'cfg', 'configs/a.py') == 'cfg'
    assert resolve_work_dir(None, None, 'configs/a.py') == osp.join('./work_dirs', 'a')


TOOLS = sorted(osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True))
HELP_EVERY_TOOL = """
import runpy, sys
for tool in sys.argv[1:]:
    sys.argv = [tool, '--help']
    try:
        runpy.run_path(tool, run_name='__main__')
    except SystemExit as stop:
        print(f'=== {tool} exited with {stop.code}')
"""


def test_every_tool_runs_as_a_script():
    """``python tools/<tool>.py --help`` for every tool (one interpreter, each script run as ``__main__``): the
    scripts import the installed package, no path tricks."""
    assert len(TOOLS) >= 15
    result = run_tool('-c', HELP_EVERY_TOOL, *TOOLS)
    assert result.returncode == 0, result.stderr[-3000:]
    for tool, output in zip(TOOLS, result.stdout.split('=== ')[1:]):
        assert output.startswith(f'{tool} exited with 0'), output[-500:]
    assert result.stdout.count('usage: ') == len(TOOLS), result.stdout[-2000:]


def test_train_tool_refuses_existing_checkpoints(tmp_path):
    (tmp_path / 'iter_10.pth').write_bytes(b'earlier run')
    result = call_tool('tools/train.py', 'configs/demo/false_r18_synthetic.py', '--work-dir', str(tmp_path))
    assert result.returncode != 0 and 'already holds checkpoints (iter_10.pth)' in result.stderr
    assert (tmp_path / 'iter_10.pth').read_bytes() == b'earlier run'


@pytest.mark.parametrize('optim_wrapper', [dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
                                           dict(optimizer=dict(type='SGD', lr=0.1))])  # mmpretrain style
def test_amp_switches_to_dynamic_loss_scale(optim_wrapper):
    cfg = Config(dict(optim_wrapper=optim_wrapper))
    enable_amp(cfg)
    # AmpOptimWrapper's behaviour on GPUs (float16, dynamic loss scale), bfloat16 on the CPU
    assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert 'dtype' not in cfg.optim_wrapper


def test_amp_refuses_other_optim_wrappers():
    with pytest.raises(ValueError, match='ApexOptimWrapper'):
        enable_amp(Config(dict(optim_wrapper=dict(type='ApexOptimWrapper'))))
    with pytest.raises(ValueError, match='ApexOptimWrapper'):
        disable_amp(Config(dict(optim_wrapper=dict(type='ApexOptimWrapper'))))


@pytest.mark.parametrize('plain, amp', [('OptimWrapper', 'MixedPrecisionOptimWrapper'),
                                        ('SDSHOptimWrapper', 'SDSHAmpOptimWrapper')])
def test_amp_and_no_amp_switch_between_counterparts(plain, amp):
    cfg = Config(dict(optim_wrapper=dict(type=plain, optimizer=dict(type='SGD', lr=0.1), clip_grad=None)))
    enable_amp(cfg, 'bfloat16')
    assert cfg.optim_wrapper.type == amp and cfg.optim_wrapper.dtype == 'bfloat16'
    disable_amp(cfg)
    assert cfg.optim_wrapper == dict(type=plain, optimizer=dict(type='SGD', lr=0.1), clip_grad=None)


def test_mmengine_amp_wrapper_is_replaced_or_refused_without_a_gpu():
    released = dict(type='AmpOptimWrapper', loss_scale=512., optimizer=dict(type='SGD', lr=0.1))
    with pytest.raises(ValueError, match='needs a GPU.*--amp.*--no-amp'):
        check_amp_device(Config(dict(optim_wrapper=released)), cuda_available=False)
    check_amp_device(Config(dict(optim_wrapper=released)), cuda_available=True)
    cfg = Config(dict(optim_wrapper=released))
    enable_amp(cfg)  # the same arguments, and it runs on the CPU as well
    assert cfg.optim_wrapper == dict(released, type='MixedPrecisionOptimWrapper')
    check_amp_device(cfg, cuda_available=False)
    cfg = Config(dict(optim_wrapper=released))
    disable_amp(cfg)
    assert cfg.optim_wrapper == dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))


@pytest.mark.parametrize('flags, expected', [(['--no-amp'], dict(type='OptimWrapper')),
                                             ([], dict(type='MixedPrecisionOptimWrapper', loss_scale='dynamic')),
                                             (['--amp-dtype', 'bfloat16'],
                                              dict(type='MixedPrecisionOptimWrapper', loss_scale='dynamic',
                                                   dtype='bfloat16'))])
def test_train_tool_precision_flags_on_the_sdcluster_config(flags, expected, monkeypatch, tmp_path):
    """The shipped SDCluster config (AMP as released) trains on a CPU as it is, with --amp-dtype or --no-amp."""
    cfg = train_tool_config(monkeypatch, osp.join(REPO, 'configs', 'sdcluster_swin-s_millionaid.py'), '--work-dir',
                            tmp_path, *flags)
    wrapper = dict(cfg.optim_wrapper)
    assert {k: v for k, v in wrapper.items() if k != 'optimizer'} == expected


def test_test_tool_refuses_pretraining_configs():
    result = run_tool('tools/test.py', 'configs/demo/false_r18_synthetic.py', 'unused.pth')
    assert result.returncode != 0 and "default_scope='mmpretrain'" in result.stderr
    assert 'pkg_resources' not in result.stderr  # the entry points silence the pinned stack's warning


def test_probe_tools_silence_the_pkg_resources_warning(tmp_path):
    """tools/eval_backbone.py and tools/vis_features.py, stopped after loading the config, print their error and
    no warning of the pinned stack."""
    cv2.imwrite(str(tmp_path / 'scene.png'), np.zeros((32, 32, 3), np.uint8))
    for args, error in ((['tools/eval_backbone.py', 'configs/demo/false_r18_synthetic.py', 'random', '--task', 'knn',
                          '--work-dir', tmp_path / 'eval'], 'needs --data-root'),
                        (['tools/vis_features.py', 'configs/demo/false_r18_synthetic.py', tmp_path / 'missing.pth',
                          tmp_path / 'scene.png', '--out-dir', tmp_path / 'vis'], 'missing.pth')):
        result = run_tool(*args)
        assert result.returncode == 1 and error in result.stderr, result.stderr[-2000:]
        assert 'pkg_resources' not in result.stderr


def test_importing_the_library_leaves_warning_filters_alone():
    result = run_tool('-c', 'import warnings; import rs_ssl_plugin; from mmengine.config import Config; '
                      'Config.fromfile("configs/demo/false_r18_synthetic.py"); '
                      'print(any("pkg_resources" in getattr(f[1], "pattern", "") for f in warnings.filters))')
    assert result.stdout.strip() == 'False', result.stderr[-2000:]
    assert 'pkg_resources is deprecated' in result.stderr  # silenced by the tools only, not by the library


def test_export_tool_reports_and_checks_target(ssl_checkpoint, tmp_path):
    path, _ = ssl_checkpoint
    out = tmp_path / 'exported.pth'
    result = call_tool('tools/export_backbone.py', path, str(out), '--target-config',
                      'configs/demo/upernet_r18_false_synthetic.py')
    assert result.returncode == 0, result.stderr
    assert 'missing 0' in result.stdout and out.exists()
    result = call_tool('tools/export_backbone.py', path, str(tmp_path / 'r50.pth'), '--target-config',
                      'configs/upernet_r50_false_potsdam.py')
    assert result.returncode != 0 and 'shape mismatch' in result.stderr
    assert not (tmp_path / 'r50.pth').exists()


@pytest.fixture
def recording_commands(tmp_path):
    """Environment whose ``PYTHON`` and ``srun`` only print their PYTHONPATH and arguments, one a line."""
    recorder = tmp_path / 'record'
    recorder.write_text('#!/bin/sh\necho "PYTHONPATH=$PYTHONPATH"\nprintf "%s\\n" "$@"\n')
    recorder.chmod(0o755)
    (tmp_path / 'srun').symlink_to(recorder)
    return dict(os.environ, PYTHON=str(recorder), PATH=f'{tmp_path}:{os.environ["PATH"]}', PYTHONPATH='')


def run_script(env, *args):
    result = subprocess.run(list(args), cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_train_sh_runs_torchrun(recording_commands):
    lines = run_script(recording_commands, 'tools/train.sh', 'configs/false_r50_potsdam.py', '4', '--amp')
    assert lines[0] == f'PYTHONPATH={REPO}'
    assert lines[1:] == ['-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1',
                         '--master_port=29500', '--nproc_per_node=4', f'{REPO}/tools/train.py',
                         'configs/false_r50_potsdam.py', '--launcher', 'pytorch', '--amp']


def test_test_sh_runs_torchrun(recording_commands):
    lines = run_script(dict(recording_commands, PORT='29600'), 'tools/test.sh', 'seg.py', 'iter_1.pth', '2',
                       '--tta')
    assert '--master_port=29600' in lines and '--nproc_per_node=2' in lines
    assert lines[-6:] == [f'{REPO}/tools/test.py', 'seg.py', 'iter_1.pth', '--launcher', 'pytorch', '--tta']


def test_infer_tiles_sh_runs_torchrun(recording_commands):
    lines = run_script(recording_commands, 'tools/infer_tiles.sh', 'seg.py', 'iter_1.pth', 'scenes/', '2',
                       '--out-dir', 'out')
    assert '--nproc_per_node=2' in lines
    assert lines[-8:] == [f'{REPO}/tools/infer_tiles.py', 'seg.py', 'iter_1.pth', 'scenes/', '--launcher', 'pytorch',
                          '--out-dir', 'out']


def test_slurm_train_sh_takes_an_optional_work_dir(recording_commands):
    lines = run_script(dict(recording_commands, GPUS='8', GPUS_PER_NODE='8'), 'tools/slurm_train.sh', 'gpu',
                       'job', 'cfg.py', 'work_dirs/run1', '--amp')
    assert lines[1:3] == ['-p', 'gpu'] and '--ntasks=8' in lines and '--gres=gpu:8' in lines
    assert lines[-7:] == [f'{REPO}/tools/train.py', 'cfg.py', '--launcher', 'slurm', '--work-dir',
                          'work_dirs/run1', '--amp']
    lines = run_script(recording_commands, 'tools/slurm_train.sh', 'gpu', 'job', 'cfg.py', '--resume')
    assert lines[-4:] == ['cfg.py', '--launcher', 'slurm', '--resume']


def test_slurm_test_sh_passes_checkpoint(recording_commands):
    lines = run_script(recording_commands, 'tools/slurm_test.sh', 'gpu', 'job', 'seg.py', 'iter_1.pth', '--tta')
    assert lines[-6:] == [f'{REPO}/tools/test.py', 'seg.py', 'iter_1.pth', '--launcher', 'slurm', '--tta']


def test_adapt_input_channels_tool(tmp_path):
    rgb = build_seg_resnet18()
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in rgb.state_dict().items()}), tmp_path / 'rgb.pth')
    adapt = load_tool('model_converters/adapt_input_channels').main
    adapt([str(tmp_path / 'rgb.pth'), str(tmp_path / 'rgbir.pth'), '--in-channels', '4', '--prefix', 'backbone.'])
    rgbir = build_seg_resnet18(in_channels=4)
    state = read_state_dict(str(tmp_path / 'rgbir.pth'))
    rgbir.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()}, strict=True)
    torch.testing.assert_close(rgbir.conv1.weight[:, :3], rgb.conv1.weight * 0.75)
    with pytest.raises(SystemExit, match='rgbir.pth already exists; pass --force to overwrite it'):
        adapt([str(tmp_path / 'rgb.pth'), str(tmp_path / 'rgbir.pth'), '--in-channels', '4'])


@pytest.fixture
def one_gpu_python(tmp_path):
    """A stand-in interpreter that counts 1 CUDA GPU and otherwise says ``launched``."""
    fake = tmp_path / 'python'
    fake.write_text('#!/bin/sh\nif [ "$1" = "-c" ]; then echo 1; else echo launched; fi\n')
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize('script, args, single', [
    ('tools/train.sh', ['configs/false_r50_potsdam.py', '2'], 'python tools/train.py CONFIG'),
    ('tools/test.sh', ['seg.py', 'iter_1.pth', '4'], 'python tools/test.py CONFIG CHECKPOINT'),
    ('tools/infer_tiles.sh', ['seg.py', 'iter_1.pth', 'scenes/', '4'],
     'python tools/infer_tiles.py CONFIG CHECKPOINT INPUTS --out-dir DIR [args]\nor 4 processes on the CPU: '
     'tools/infer_tiles.sh CONFIG CHECKPOINT INPUTS 4 --out-dir DIR --device cpu'),
])
def test_launchers_say_they_need_gpus(one_gpu_python, script, args, single):
    """Fewer GPUs than processes: a clear error and the single-process command, no torchrun traceback."""
    result = subprocess.run([script, *args], cwd=REPO, env=dict(os.environ, PYTHON=one_gpu_python),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and 'launched' not in result.stdout
    assert f'starts {args[-1]} process(es), one per GPU, but this machine has 1 CUDA GPU(s)' in result.stderr
    assert single in result.stderr


@pytest.mark.parametrize('device', [['--device', 'cpu'], ['--device=cpu']])
def test_infer_tiles_sh_starts_cpu_processes_without_gpus(one_gpu_python, device):
    result = subprocess.run(['tools/infer_tiles.sh', 'seg.py', 'iter_1.pth', 'scenes/', '4', '--out-dir', 'out',
                             *device], cwd=REPO, env=dict(os.environ, PYTHON=one_gpu_python), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == 'launched\n', result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message on a machine without GPUs')
def test_train_sh_without_gpus_needs_no_traceback():
    result = subprocess.run(['tools/train.sh', 'configs/demo/false_r18_synthetic.py', '2'], cwd=REPO,
                            env=dict(os.environ, PYTHON=sys.executable), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and 'has 0 CUDA GPU(s)' in result.stderr
    assert 'Traceback' not in result.stderr and 'ChildFailedError' not in result.stderr
