r"""What does a backbone see? The first three PCA components of its dense features as an RGB map per image.

    python tools/vis_features.py configs/false_r50_potsdam.py work_dirs/false/backbone.pth images/ \
        --out-dir vis_features
    python tools/vis_features.py configs/sdcluster_swin-s_millionaid.py random scene.tif --out-dir vis_random

The PCA is fitted jointly over all given images, so a colour means the same feature direction in each of
them: regions the backbone tells apart get different colours. Inputs: image files or folders (JPEG, PNG,
TIFF, GeoTIFF; any size, the longer side shrunk to --max-size first). For every input writes
<name>_pca.png (the map at the image's processed size) and <name>_pca_figure.png (image | PCA map, titled).
CONFIG and CKPT are as for tools/eval_backbone.py ('random' for the random-init baseline). Existing outputs
are never overwritten unless --force.
"""
import argparse
import os
import os.path as osp

import cv2
import torch
import torch.nn.functional as F
from mmengine.config import DictAction

from rs_ssl_plugin.datasets.checks import collect_image_files, read_rgb_image
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.evaluation.features import build_frozen_backbone
from rs_ssl_plugin.utils.entry_points import (
    USER_ERRORS,
    ToolHelpFormatter,
    one_line_errors,
    silence_pkg_resources_warning,
)
from rs_ssl_plugin.visualization.feature_pca import fit_pca, pca_rgb_maps
from rs_ssl_plugin.visualization.legend import fit_for_display, panel_figure, save_figure

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')


def parse_args(argv=None):
    """The command-line options (``argv``: a list, default ``sys.argv``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('config', help='pre-training, segmentation or backbone-only config')
    parser.add_argument('checkpoint', help="backbone weights, or 'random'")
    parser.add_argument('inputs', nargs='+', help='image files or folders')
    parser.add_argument('--out-dir', default='vis_features', help='output folder')
    parser.add_argument('--layer', type=int, default=-1, help='which of the backbone\'s feature maps (default: last)')
    parser.add_argument('--max-size', type=int, default=1024, help='longer image side fed to the backbone')
    parser.add_argument('--prefix', default='backbone.', help='key prefix of the backbone in the checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings of the config')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the backbone runs')
    parser.add_argument('--seed', type=int, default=0, help='random init and PCA sample')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    """Extract the features of every input, fit one PCA, write the maps and figures."""
    args = parse_args(argv)
    with one_line_errors(USER_ERRORS + (IndexError, OSError), cfg_options=args.cfg_options, config=args.config):
        paths = collect_image_files(args.inputs, IMAGE_EXTENSIONS)
        outputs = [tuple(osp.join(args.out_dir, f'{osp.splitext(osp.basename(p))[0]}_{kind}.png')
                         for kind in ('pca', 'pca_figure')) for p in paths]
        existing = [o for pair in outputs for o in pair if osp.exists(o)]
        if existing and not args.force:
            raise FileExistsError(f'{existing[0]} already exists; pass --force to overwrite')
        backbone = build_frozen_backbone(args.config, args.checkpoint, args.cfg_options, args.device, args.prefix,
                                         args.seed, multi_scale=True)
        print(f'{backbone.label}: {backbone.weights}')
        images, maps = [], []
        for path in paths:
            image = fit_for_display(read_rgb_image(path), args.max_size)
            outputs_of_image = backbone.feature_maps(backbone.preprocessing(image)[None])
            maps.append(outputs_of_image[args.layer][0].float().cpu())
            images.append(image)
    mean, components = fit_pca(maps, seed=args.seed)
    os.makedirs(args.out_dir, exist_ok=True)
    for path, image, rgb, (map_path, figure_path) in zip(paths, images, pca_rgb_maps(maps, mean, components),
                                                         outputs):
        upsampled = F.interpolate(torch.from_numpy(rgb).permute(2, 0, 1)[None].float(), size=image.shape[:2],
                                  mode='bilinear', align_corners=False)[0].permute(1, 2, 0)
        upsampled = upsampled.clamp(0, 255).round().byte().numpy()
        cv2.imwrite(map_path, upsampled[..., ::-1])
        title = f'{osp.basename(path)}: {backbone.label}, feature map {args.layer} ({maps[0].shape[0]} channels)'
        figure = panel_figure([[image, upsampled]], ['image', 'features: PCA components 1-3 as RGB'], title=title,
                              panel_inches=4.0)
        save_figure(figure, figure_path)
        print(f'{path} -> {figure_path}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
