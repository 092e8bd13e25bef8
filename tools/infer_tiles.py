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
scene width, not the scene size. Existing outputs are never overwritten without --force.
"""
import argparse
import os
import sys

import torch
from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from rs_ssl_plugin.apis.scene_io import (
    RasterScene,
    class_names,
    class_palette,
    image_loading,
    scene_output_paths,
    segment_raster,
    window_settings,
)
from rs_ssl_plugin.apis.tiled_inference import AMP_DTYPES, BLEND_MODES, label_coding
from rs_ssl_plugin.checkpoints.fit import init_segmentor
from rs_ssl_plugin.datasets.checks import collect_image_files
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning
from rs_ssl_plugin.utils.windows import slide_windows
from rs_ssl_plugin.visualization.legend import write_legend

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
    parser.add_argument('--device', default='cuda:0' if torch.cuda.is_available() else 'cpu',
                        help='where the model runs')
    parser.add_argument('--palette', help='mmseg dataset name whose palette colours the PNG '
                                          '(default: the palette in the checkpoint\'s dataset_meta)')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    """Segment every scene into its class GeoTIFF and colour PNG; exits with the error on bad input."""
    args = parse_args(argv)
    with one_line_errors(cfg_options=args.cfg_options, config=args.config):
        jobs = scene_output_paths(collect_image_files(args.inputs, SCENE_EXTENSIONS), args.out_dir, args.force)
        model = init_segmentor(args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options)
        crop_size, stride = window_settings(model, args.crop_size, args.stride)
        palette = class_palette(model, args.palette)
        names = class_names(model, args.palette)
        coding = label_coding(model)
    on_cuda = model.data_preprocessor.device.type == 'cuda'
    if on_cuda:  # cuDNN picks its fastest kernels for the fixed window shape; NHWC suits tensor cores
        torch.backends.cudnn.benchmark = True
        model = model.to(memory_format=torch.channels_last)
    os.makedirs(args.out_dir, exist_ok=True)
    print(f'class codes: {", ".join(f"{code} {name}" for code, name in zip(coding.codes(len(names)), names))}; '
          f'{coding.nodata} no data')
    written = []
    for scene_path, tif_path, png_path, legend_path in jobs:
        print(f'{scene_path} -> {tif_path}, {png_path}, {legend_path}')
        try:
            with RasterScene(scene_path) as scene:
                bar = ProgressBar(len(slide_windows(scene.height, scene.width, crop_size, stride)))
                segment_raster(model, scene, tif_path, png_path, palette, crop_size, stride, names, coding,
                               batch_size=args.batch_size, blend=args.blend, amp=args.amp,
                               channels_last=on_cuda, progress=bar.update, **image_loading(model))
            write_legend(legend_path, names, palette[:len(names)], f'classes of {os.path.basename(png_path)}')
        except (OSError, ValueError) as error:
            sys.exit(f'\nerror: {error}')
        written += [tif_path, png_path, legend_path]
        print()
    print('wrote:\n' + '\n'.join(f'  {path}' for path in written))


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
