"""Cost of safe checkpoint loading and of exact resume (results go to docs/benchmarks.md).

1. Loading a Runner-style checkpoint of a UperNet R50 (state dict, SGD momentum, a message hub with
   logged scalars): the plugin's weights-only load with its allowlist against full unpickling, same file,
   alternating rounds.
2. What ResumableCheckpointHook adds per checkpoint: capturing the random states, and the intactness check
   of --resume.

    python bench/bench_checkpoint_loading.py
"""
import os.path as osp
import sys
import tempfile

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from bench_utils import timed  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.checkpoints.integrity import checkpoint_is_intact  # noqa: E402
from rs_ssl_plugin.checkpoints.reading import load_checkpoint_file  # noqa: E402
from rs_ssl_plugin.engine import capture_random_state  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def runner_checkpoint(path):
    """Write a Runner-style checkpoint of the shipped UperNet R50 Potsdam model to ``path``."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'upernet_r50_random_potsdam.py'))
    for part in (cfg.model.backbone, cfg.model.decode_head, cfg.model.auxiliary_head):
        part.norm_cfg = dict(type='BN', requires_grad=True)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    hub = MessageHub.get_instance('bench_checkpoint_loading')
    for i in range(1000):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    torch.save(dict(meta=dict(iter=1000, seed=0), state_dict=model.state_dict(), optimizer=optimizer.state_dict(),
                    message_hub=hub.state_dict()), path)


def main():
    """Print the timings."""
    device = torch.device('cpu')
    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, 'iter_1000.pth')
        runner_checkpoint(path)
        print(f'checkpoint: {osp.getsize(path) / 1e6:.0f} MB')
        for round_ in range(3):
            full = timed(lambda: torch.load(path, map_location='cpu', weights_only=False), device, 1, 3)
            safe = timed(lambda: load_checkpoint_file(path), device, 1, 3)
            print(f'round {round_}: full unpickling {full * 1e3:.0f} ms, weights-only (plugin) {safe * 1e3:.0f} ms, '
                  f'ratio {safe / full:.2f}')
        print(f'capture_random_state: {timed(capture_random_state, device, 5, 100) * 1e3:.3f} ms; '
              f'checkpoint_is_intact: {timed(lambda: checkpoint_is_intact(path), device, 2, 20) * 1e3:.2f} ms')


if __name__ == '__main__':
    main()
