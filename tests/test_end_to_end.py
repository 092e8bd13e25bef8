"""FALSE pre-training -> backbone export -> UperNet fine-tuning -> test, with real Runners on CPU."""
import glob
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmseg.registry import MODELS as SEG_MODELS

from helpers.configs import make_false_pretraining_learn, shrink_finetune_data
from helpers.runner import StateAtStart, assert_loss_falls, assert_same_metrics, assert_trained, last_val_metrics
from helpers.tools import REPO
from rs_ssl_plugin.checkpoints.export import export_backbone


def pretrain_config(data_root, work_dir):
    """The demo's FALSE config in 4 iterations that learn (from about ln 15)."""
    return make_false_pretraining_learn(Config.fromfile(osp.join(REPO, 'configs', 'demo', 'false_r18_synthetic.py')),
                                        data_root, work_dir)


def finetune_config(data_root, work_dir, backbone):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', 'upernet_r18_false_synthetic.py'))
    cfg.work_dir = work_dir
    cfg.model.backbone.init_cfg.checkpoint = backbone
    shrink_finetune_data(cfg, data_root)
    cfg.train_cfg.update(max_iters=3, val_interval=3)
    cfg.param_scheduler[0].end = 3
    cfg.default_hooks.checkpoint.interval = 3
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_pretrain_export_finetune_test(synthetic_potsdam, tmp_path):
    runner = Runner.from_cfg(pretrain_config(synthetic_potsdam, str(tmp_path / 'pretrain')))
    start = StateAtStart()
    runner.register_hook(start)
    runner.train()
    ssl_checkpoint = osp.join(tmp_path, 'pretrain', 'epoch_4.pth')
    assert osp.isfile(ssl_checkpoint)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert torch.isfinite(torch.tensor(loss))
    assert_loss_falls(runner, iterations=4)

    init_default_scope('mmseg')
    target = SEG_MODELS.build(dict(type='ResNet', depth=18))
    backbone_path = str(tmp_path / 'backbone.pth')
    export_backbone(ssl_checkpoint, backbone_path, prefix='backbone.', target_module=target)
    exported = torch.load(backbone_path, map_location='cpu')['state_dict']
    trained = torch.load(ssl_checkpoint, map_location='cpu', weights_only=False)['state_dict']
    assert set(exported) == {k for k in trained if k.startswith('backbone.')}
    assert_trained(exported, {k[len('backbone.'):]: v for k, v in start.state.items() if k.startswith('backbone.')})

    cfg = finetune_config(synthetic_potsdam, str(tmp_path / 'finetune'), backbone_path)
    model = SEG_MODELS.build(cfg.model)
    model.init_weights()
    torch.testing.assert_close(model.backbone.conv1.weight, exported['backbone.conv1.weight'])
    torch.testing.assert_close(model.backbone.layer4[1].bn2.running_var, exported['backbone.layer4.1.bn2.running_var'])

    runner = Runner.from_cfg(cfg)
    runner.train()
    validated = last_val_metrics(runner)  # logged by the validation at iteration 3
    checkpoint = osp.join(tmp_path, 'finetune', 'iter_3.pth')
    assert osp.isfile(checkpoint)

    test_cfg = finetune_config(synthetic_potsdam, str(tmp_path / 'test'), backbone_path)
    test_cfg.load_from = checkpoint  # a full Runner checkpoint: needs the weights_only fix
    metrics = Runner.from_cfg(test_cfg).test()
    assert {'aAcc', 'mIoU'} <= set(metrics)
    # the test split is the validation split and the checkpoint the one validated at iteration 3
    assert_same_metrics(metrics, validated)
    assert glob.glob(osp.join(tmp_path, 'test', '*', '*.json'))


def test_mmseg_stock_train_tool_runs_plugin_config(synthetic_potsdam, tmp_path):
    """mmseg's own tools/train.py needs nothing but the config's custom_imports."""
    import mmseg
    stock_train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    options = [f'{loader}.dataset.data_root={synthetic_potsdam}' for loader in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += ['model.backbone.init_cfg=None', 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
                'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
                'default_hooks.checkpoint.interval=1']
    result = subprocess.run([sys.executable, stock_train, 'configs/demo/upernet_r18_false_synthetic.py',
                             '--work-dir', str(tmp_path), '--cfg-options', *options],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert osp.isfile(osp.join(tmp_path, 'iter_1.pth'))
