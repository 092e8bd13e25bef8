"""SDSH training-step benchmark (results go to docs/benchmarks.md).

One full SDSH step (multi-crop batch, EMA-teacher forward on the 2 global crops, student forward on the
masked global and the local crops, DINO/iBOT heads with 65,536 prototypes, all loss terms, backward,
per-module clipping, AdamW update, EMA update) against its floor: the bare ViT backbone forward/backward
on the same crops (2 global + local, no masks, no heads, no teacher, a plain sum loss).

    python bench/bench_sdsh.py --device cpu                 # small: ViT-S/14, batch 2, 2 local crops, K=4096
    python bench/bench_sdsh.py --device cuda --preset full  # official: batch 64, 8 local crops, K=65536, bf16
    (--preset tiny: a 2-block ViT, the GPU suite's CPU dry run)
"""
import argparse
import json
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from bench_utils import timed  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.methods.sdsh.views import sample_ibot_masks  # noqa: E402

VIT_S14 = dict(arch='dinov2-small', img_size=224, local_img_size=98, patch_size=14)
PRESETS = dict(
    tiny=dict(batch=2, num_local=2, prototypes=64, bf16=False,
              vit=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64), img_size=28,
                       local_img_size=14, patch_size=7)),
    small=dict(batch=2, num_local=2, prototypes=4096, bf16=False, vit=VIT_S14),
    full=dict(batch=64, num_local=8, prototypes=65536, bf16=True, vit=VIT_S14),
)


def parse_args():
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--preset', choices=sorted(PRESETS), default='small')
    parser.add_argument('--batch', type=int, help='images per step (overrides the preset)')
    parser.add_argument('--num-local', type=int, help='local crops per image (overrides the preset)')
    parser.add_argument('--prototypes', type=int, help='DINO/iBOT head prototypes (overrides the preset)')
    parser.add_argument('--hash-bits', type=int, default=64)
    parser.add_argument('--threads', type=int, help='CPU threads (torch.set_num_threads)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--rounds', type=int, default=3,
                        help='alternate the two measurements this often and keep the fastest of each '
                             '(robust to a shared, busy machine)')
    return parser.parse_args()


def run(device, preset='small', batch=None, num_local=None, prototypes=None, hash_bits=64, warmup=2, iters=3,
        rounds=3):
    """Fastest SDSH step and bare-backbone step over ``rounds`` alternations; returns the results.

    bf16 presets step through ``SDSHAmpOptimWrapper(dtype='bfloat16')`` (its autocast context and update, as
    ``train_step`` does), the others through ``SDSHOptimWrapper``; the floor runs under the same autocast."""
    settings = dict(PRESETS[preset])
    settings.update({k: v for k, v in dict(batch=batch, num_local=num_local, prototypes=prototypes).items()
                     if v is not None})
    vit = settings.pop('vit')
    device = torch.device(device)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    head = dict(type='SDSHDINOHead', num_prototypes=settings['prototypes'], hidden_channels=2048,
                bottleneck_channels=256, num_layers=3)
    backbone_cfg = dict(type='SDSHViT', **vit, hash_bits=hash_bits, drop_path_rate=0.05)
    model = MODELS.build(dict(type='SDSH', backbone=backbone_cfg, dino_head=head, ibot_head=dict(head),
                              loss_weights=dict(koleo=0.01))).to(device)
    model.init_weights()
    model.train()
    wrapper_cfg = dict(type='SDSHOptimWrapper', constructor='SDSHOptimWrapperConstructor',
                       optimizer=dict(type='AdamW', lr=1e-4), clip_grad=dict(max_norm=3.0))
    if settings['bf16']:
        wrapper_cfg.update(type='SDSHAmpOptimWrapper', dtype='bfloat16')
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    b, n_local = settings['batch'], settings['num_local']
    size, local_size = vit['img_size'], vit['local_img_size']
    crops = [torch.randn(b, 3, size, size, device=device) for _ in range(2)]
    crops += [torch.randn(b, 3, local_size, local_size, device=device) for _ in range(n_local)]
    masks = sample_ibot_masks(2 * b, (size // vit['patch_size'], ) * 2)
    samples = []
    for i in range(b):
        sample = DataSample()
        sample.set_mask(masks[[i, b + i]].to(device))
        samples.append(sample)

    def sdsh_step():
        with wrapper.optim_context(model):
            losses = model.loss(crops, samples)
        wrapper.update_params(sum(v for k, v in losses.items() if k.startswith('loss')))
        model.update_teacher(0.996)

    bare = MODELS.build(backbone_cfg).to(device)
    bare.train()
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=settings['bf16'])

    def backbone_step():
        with torch.autocast(**autocast):
            loss = bare.forward_tokens(torch.cat(crops[:2])).float().sum()
            loss = loss + bare.forward_tokens(torch.cat(crops[2:])).float().sum()
        loss.backward()
        bare.zero_grad(set_to_none=True)

    step, floor = float('inf'), float('inf')
    for r in range(rounds):
        step = min(step, timed(sdsh_step, device, warmup if r == 0 else 0, iters))
        floor = min(floor, timed(backbone_step, device, warmup if r == 0 else 0, iters))
    return dict(device=str(device), threads=torch.get_num_threads(), preset=preset, **settings, hash_bits=hash_bits,
                sdsh_step_s=round(step, 4), backbone_fwd_bwd_s=round(floor, 4), overhead=round(step / floor, 2),
                images_per_s=round(b / step, 2))


def main():
    """Command line: run and print the results."""
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(run(args.device, args.preset, args.batch, args.num_local, args.prototypes, args.hash_bits,
                         args.warmup, args.iters, args.rounds)))


if __name__ == '__main__':
    main()
