r"""Segment large scenes (e.g. 6000 x 6000 Potsdam tiles) with a fine-tuned mmseg model, window by window.

    python tools/infer_tiles.py configs/upernet_r50_false_potsdam.py work_dirs/upernet/iter_80000.pth \
        data/potsdam_tiles/ --out-dir work_dirs/upernet/tiles --batch-size 16 --amp bf16

For each input (GeoTIFF, PNG, JPEG, ...; a folder means every such file under it) this writes
<out-dir>/<name>_classes.tif (class codes in the coding of the model's label files, as tools/test.py --out
writes them: class index + 1 with reduce_zero_label; the CRS and transform of the source, a colour table,
the class names as band tags and a nodata value), <out-dir>/<name>_color.png (no data transparent) and
<out-dir>/<name>_legend.png (class names and colours of the PNG). Pixels that are NaN in any band or hold
the file's nodata value in every band enter the network as the mean and are written as nodata. Windows
follow mmseg's slide inference (crop size and stride default to the config's slide test_cfg, else to its
training crop and 2/3 of it); --blend uniform reproduces its averaging, cosine/ramp blend overlaps smoothly.
Pixels get the values the config's image loader gives (its value_range and color_type: 16-bit scenes need
one of them, as in training).
GeoTIFFs are read lazily and the output is written as rows finish, so memory follows the batch and the
scene width, not the scene size.

An archive on several GPUs or nodes: tools/infer_tiles.sh CONFIG CHECKPOINT INPUTS GPUS --out-dir DIR [args]
(--launcher pytorch) shares the scenes among the processes, balanced by pixel count; --device cpu runs them on
the CPU. Each scene's <name>_inference.json records the run that wrote it: a re-run skips the scenes complete
from a run with the same checkpoint, config and settings and redoes those a stopped run left unfinished; other
existing outputs are never overwritten without --force. A scene that fails is reported at the end, with its
reason, and the others go on; the exit status is then 1.
"""
import argparse
import os
import sys

import torch
from mmengine.config import DictAction
from mmengine.dist import get_dist_info
from mmengine.utils import ProgressBar

from rs_ssl_plugin.apis.archive import (
    gather_outcomes,
    join_processes,
    outcome_report,
    run_fingerprint,
    scene_jobs,
    segment_scene,
    shared_plan,
)
from rs_ssl_plugin.apis.scene_io import class_names, class_palette, image_loading, window_settings
from rs_ssl_plugin.apis.tiled_inference import AMP_DTYPES, BLEND_MODES, label_coding
from rs_ssl_plugin.checkpoints.fit import init_segmentor
from rs_ssl_plugin.datasets.checks import collect_image_files
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning
from rs_ssl_plugin.utils.windows import slide_windows

SCENE_EXTENSIONS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')


def parse_args(argv=None):
    """Command-line arguments of ``argv`` (default ``sys.argv``; see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='fine-tuned checkpoint (must fit the config\'s model exactly)')
    parser.add_argument('inputs', nargs='+', help='scene files and/or folders of scenes')
    parser.add_argument('--out-dir', required=True, help='folder for the outputs (created if missing)')
    parser.add_argument('--crop-size', type=int, nargs='+',
                        help='window H [W] (default: the slide test_cfg\'s crop_size, else the training crop)')
    parser.add_argument('--stride', type=int, nargs='+',
                        help='window stride H [W] (default: the slide test_cfg\'s stride, else 2/3 of the crop)')
    parser.add_argument('--batch-size', type=int, default=8, help='windows per forward pass')
    parser.add_argument('--blend', choices=BLEND_MODES, default='cosine',
                        help='window weights; uniform = mmseg slide inference')
    parser.add_argument('--amp', choices=tuple(AMP_DTYPES), default='none', help='autocast dtype')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the model runs: cpu, cuda (with --launcher pytorch the GPU of each process\'s '
                             'local rank) or cuda:N (a single process)')
    parser.add_argument('--palette', help='mmseg dataset name whose palette colours the PNG '
                                          '(default: the palette in the checkpoint\'s dataset_meta)')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs that a re-run would not '
                        'redo: those without a completion record or written by another run')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='job launcher (tools/infer_tiles.sh runs torchrun with pytorch)')
    return parser.parse_args(argv)


def main(argv=None):
    """Segment every scene (this process's share of them) into its class GeoTIFF and colour PNG; exits with the
    error on bad input, and with the list of failed scenes after the summary."""
    args = parse_args(argv)
    with one_line_errors(cfg_options=args.cfg_options, config=args.config):
        device = join_processes(args.launcher, args.device)
        jobs = scene_jobs(collect_image_files(args.inputs, SCENE_EXTENSIONS), args.out_dir)
        model = init_segmentor(args.config, args.checkpoint, device=device, cfg_options=args.cfg_options)
        crop_size, stride = window_settings(model, args.crop_size, args.stride)
        palette = class_palette(model, args.palette)
        names = class_names(model, args.palette)
        coding = label_coding(model)
        run = run_fingerprint(model, names, palette, coding, crop_size, stride, args.blend, args.amp)
        plan = shared_plan(jobs, run, args.force)
    on_cuda = model.data_preprocessor.device.type == 'cuda'
    if on_cuda:  # cuDNN picks its fastest kernels for the fixed window shape; NHWC suits tensor cores
        torch.backends.cudnn.benchmark = True
        model = model.to(memory_format=torch.channels_last)
    os.makedirs(args.out_dir, exist_ok=True)
    rank, world_size = get_dist_info()
    if rank == 0:
        print(f'class codes: {", ".join(f"{code} {name}" for code, name in zip(coding.codes(len(names)), names))}; '
              f'{coding.nodata} no data')
    share = plan.share(rank, world_size)
    options = dict(batch_size=args.batch_size, blend=args.blend, amp=args.amp, channels_last=on_cuda,
                   **image_loading(model))
    with_bars = world_size == 1  # several processes' progress bars would overwrite each other
    where = '' if with_bars else f'rank {rank}: '
    segmented, failed = [], []
    for number, (job, (height, width)) in enumerate(share, 1):
        print(f'{where}{number}/{len(share)} {job.scene} -> {", ".join(job.outputs)}')
        progress = ProgressBar(len(slide_windows(height, width, crop_size, stride))).update if with_bars else None
        try:
            segment_scene(model, job, run, palette, names, coding, crop_size, stride, progress=progress, **options)
        except (OSError, ValueError) as error:  # the scene's fault: report it and go on with the others
            failed.append((job.scene, str(error)))
            print(f'\n{where}failed: {job.scene}: {error}')
            continue
        segmented.append(job)
        if with_bars:
            print()  # ends the progress bar's line
    segmented, failed = gather_outcomes(segmented, failed)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    if rank != 0:
        return  # rank 0 alone reports and sets the exit status: torchrun stops the others when one fails
    summary, error = outcome_report(plan, segmented, failed)
    print(summary)
    if error is not None:
        sys.exit(f'error: {error}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
