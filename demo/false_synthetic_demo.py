"""End-to-end demo on the embedded synthetic Potsdam-like dataset (run by `make demo`).

1. generate the synthetic scenes (data/synthetic_potsdam, once),
2. pre-train FALSE (ResNet-18) on the unlabeled scenes with tools/train.py,
3. export the backbone with tools/export_backbone.py (checked against the UperNet backbone),
4. score the frozen backbone against random init with tools/eval_backbone.py (a 1x1 probe on its
   multi-scale features: what pre-training alone learned, in seconds),
5. fine-tune UperNet from it with tools/train.py,
6. test with tools/test.py --out-dir (per-class table and report: colour predictions, an
   image | ground truth | prediction figure with the class legend), then plot the loss curves.

Every run writes into a new folder work_dirs/demo/<timestamp>; nothing earlier is touched.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from rs_ssl_plugin.datasets.synthetic import POTSDAM_CLASSES, make_synthetic_potsdam  # noqa: E402
from rs_ssl_plugin.utils.entry_points import silence_pkg_resources_warning  # noqa: E402
from rs_ssl_plugin.visualization.legend import save_figure  # noqa: E402

PRETRAIN_CONFIG = 'configs/demo/false_r18_synthetic.py'
FINETUNE_CONFIG = 'configs/demo/upernet_r18_false_synthetic.py'


def run_step(title, args):
    """Run one tool as a subprocess with live output; stop the demo if it fails."""
    print(f'\n=== {title} ===\n$ {" ".join(args)}', flush=True)
    start = time.time()
    subprocess.run([sys.executable] + args, cwd=REPO, check=True)
    print(f'--- {title}: done in {time.time() - start:.0f} s', flush=True)


def latest_file(pattern):
    """The most recently modified file matching ``pattern``; ``FileNotFoundError`` if none does."""
    matches = sorted(glob.glob(pattern), key=osp.getmtime)
    if not matches:
        raise FileNotFoundError(f'nothing matches {pattern}')
    return matches[-1]


def read_scalars(work_dir):
    """Training records (dicts with 'iter', 'loss', ...) from mmengine's vis_data/scalars.json."""
    with open(latest_file(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))) as f:
        return [r for r in map(json.loads, f) if 'loss' in r and 'iter' in r]


def plot_curves_and_probe(pretrain_dir, finetune_dir, probe, out_path):
    """Save the pre-training and fine-tuning loss curves and the frozen probe's per-class IoU (pre-trained
    against random init) side by side to ``out_path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    for ax, work_dir, title in ((axes[0], pretrain_dir, 'FALSE pre-training loss'),
                                (axes[1], finetune_dir, 'UperNet fine-tuning loss')):
        records = read_scalars(work_dir)
        ax.plot([r['iter'] for r in records], [r['loss'] for r in records])
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.set_ylabel('loss')
        ax.grid(alpha=0.3)
    ax = axes[2]
    width = 0.4
    positions = np.arange(len(POTSDAM_CLASSES))
    for offset, (label, name) in zip((-width / 2, width / 2), (('backbone.pth', 'FALSE pre-trained'),
                                                               ('random init', 'random init'))):
        result = probe[label]
        ious = [result['per_class'][c]['IoU'] for c in POTSDAM_CLASSES]
        ax.bar(positions + offset, ious, width, label=f'{name} (mIoU {result["metrics"]["mIoU"]:.1f})')
    ax.set_xticks(positions, [c.replace('_', ' ') for c in POTSDAM_CLASSES], rotation=25, ha='right')
    ax.set_ylabel('IoU (%)')
    ax.set_ylim(0, 100)
    ax.set_title('Frozen 1x1 probe before fine-tuning (validation scenes)')
    ax.legend(loc='upper right')
    ax.grid(alpha=0.3, axis='y')
    fig.tight_layout()
    save_figure(fig, out_path, dpi=100)


def probe_results(results_json):
    """``{label: result}`` of the frozen-probe results written by tools/eval_backbone.py (``metrics`` with the
    mIoU, ``per_class`` with each class's IoU)."""
    with open(results_json) as f:
        return {r['label']: r for r in json.load(f)['results']}


def main():
    """Run the five demo steps into a new work dir, then print the scores and where the outputs are."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', default='data/synthetic_potsdam')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo', time.strftime('%Y%m%d_%H%M%S')))
    parser.add_argument('--seed', type=int, default=0,
                        help='pre-training seed, and the seed of the probe\'s random init and pixel sampling')
    args = parser.parse_args()
    os.chdir(REPO)
    started = time.time()
    run_dir = args.work_dir
    os.makedirs(run_dir, exist_ok=False)

    print('=== 1. synthetic Potsdam-like scenes ===', flush=True)
    info = make_synthetic_potsdam(args.data_root, num_train=64, num_val=16, num_unlabeled=256, size=256, seed=0)
    print(info, flush=True)

    pretrain_dir = osp.join(run_dir, 'pretrain')
    data_option = f'train_dataloader.dataset.data_root={args.data_root}'
    run_step('2. FALSE pre-training (ResNet-18)',
             ['tools/train.py', PRETRAIN_CONFIG, '--work-dir', pretrain_dir, '--cfg-options', data_option,
              f'randomness.seed={args.seed}'])

    backbone = osp.join(run_dir, 'backbone.pth')
    run_step('3. backbone export', ['tools/export_backbone.py', latest_file(osp.join(pretrain_dir, 'epoch_*.pth')),
                                    backbone, '--target-config', FINETUNE_CONFIG])

    finetune_dir = osp.join(run_dir, 'finetune')
    data_options = [data_option, f'val_dataloader.dataset.data_root={args.data_root}',
                    f'test_dataloader.dataset.data_root={args.data_root}']
    probe_json = osp.join(run_dir, 'frozen_probe', 'seg_probe_results.json')
    run_step('4. frozen-backbone probe: pre-trained vs random init',
             ['tools/eval_backbone.py', FINETUNE_CONFIG, backbone, 'random', '--task', 'seg-probe',
              '--max-train-pixels', '5000', '--seed', str(args.seed), '--work-dir', osp.join(run_dir, 'frozen_probe'),
              '--cfg-options', *data_options])

    run_step('5. UperNet fine-tuning', ['tools/train.py', FINETUNE_CONFIG, '--work-dir', finetune_dir,
                                        '--cfg-options', f'model.backbone.init_cfg.checkpoint={backbone}',
                                        *data_options])

    test_dir = osp.join(run_dir, 'test')
    report_dir = osp.join(run_dir, 'test_report')
    run_step('6. test', ['tools/test.py', FINETUNE_CONFIG, latest_file(osp.join(finetune_dir, 'iter_*.pth')),
                         '--work-dir', test_dir, '--out-dir', report_dir, '--cfg-options',
                         f'model.backbone.init_cfg.checkpoint={backbone}', *data_options])

    probe = probe_results(probe_json)
    curve = osp.join(run_dir, 'loss_curves_and_probe.png')
    plot_curves_and_probe(pretrain_dir, finetune_dir, probe, curve)

    with open(latest_file(osp.join(test_dir, '*', '*.json'))) as f:
        metrics = json.load(f)
    print('\n=== result on the synthetic validation scenes ===')
    print(f'classes: {", ".join(POTSDAM_CLASSES)} (per-class IoU table above)')
    print(f'mIoU {metrics["mIoU"]:.2f}  mF1 {metrics["mF1"]:.2f}  aAcc {metrics["aAcc"]:.2f}')
    pretrained, random_init = (probe[label]['metrics']['mIoU'] for label in ('backbone.pth', 'random init'))
    print(f'frozen 1x1 probe before fine-tuning, mIoU: FALSE backbone {pretrained:.2f} vs random init '
          f'{random_init:.2f} ({pretrained - random_init:+.2f}; tools/eval_backbone.py, {probe_json})')
    print(f'per-class report: {report_dir}\ncolour predictions: {osp.join(report_dir, "pred_colour")}\n'
          f'image | truth | prediction: {osp.join(report_dir, "image_truth_prediction.png")}\n'
          f'loss curves and the probe per class: {curve}')
    print(f'demo finished in {(time.time() - started) / 60:.1f} min')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
