r"""Cluster maps of a pre-trained model over images of any size: SDCluster's ClusterEval, or any mmseg
segmentor whose predictions are cluster ids (e.g. IDDC).

    # SDCluster: the released ClusterEval.pt, an official training checkpoint or this plugin's Runner
    # checkpoint (teacher branch), architecture from the pre-training config (Swin-S by default)
    python tools/vis_cluster.py ClusterEval.pt images/ --out-dir vis_out
    python tools/vis_cluster.py work_dirs/sdcluster/epoch_100.pth scene.tif \
        --config configs/sdcluster_swin-s_millionaid.py
    # an mmseg segmentor (IDDC)
    python tools/vis_cluster.py iter_2000.pth images/ --seg-config configs/iddc_vit-s16_potsdam3.py

For every input writes <name>_clusters.png (uint8 ids, or uint16 above 256 clusters), <name>_color.png,
<name>_overlay.png and <name>_figure.png (image | clusters | overlay, titled, with a legend of the
clusters). Colours are fixed per cluster across images; --per-image-colors rescales them per image with
the JET map, as the official visualiser does. Inputs: image files or folders (JPEG, PNG, TIFF,
GeoTIFF); ClusterEval runs at native resolution and upsamples the stride-16 scores (nearest, as official).
Existing outputs are never overwritten unless --force.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import DictAction

from rs_ssl_plugin.checkpoints.fit import init_segmentor
from rs_ssl_plugin.datasets.checks import collect_image_files, read_rgb_image
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.methods.sdcluster.cluster_eval import cluster_eval_ids, load_cluster_eval
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning
from rs_ssl_plugin.visualization.cluster_maps import cluster_map_paths, prototype_palette, write_cluster_maps

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')


def parse_args(argv=None):
    """Command-line arguments of ``argv`` (default ``sys.argv``; see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('checkpoint', help='ClusterEval/SDCluster checkpoint, or a segmentor checkpoint')
    parser.add_argument('inputs', nargs='+', help='image files or folders')
    parser.add_argument('--out-dir', default='vis_out', help='output folder')
    parser.add_argument('--config', help='SDCluster pre-training config giving the architecture '
                        '(default: the official Swin-S, 256 prototypes)')
    parser.add_argument('--seg-config', help='an mmseg segmentor config; its predictions are the clusters')
    parser.add_argument('--per-image-colors', action='store_true',
                        help='official colouring: ids min-max scaled per image, JET colour map')
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity of the colours')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the model runs')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of --config or --seg-config, e.g. key=value or key="[a,b]"')
    add_unsafe_load_argument(parser)
    args = parser.parse_args(argv)
    if args.cfg_options and not (args.config or args.seg_config):
        parser.error('--cfg-options changes the config of --config or --seg-config; give one of them')
    return args


def main(argv=None):
    """Write the cluster maps (colour map and overlay) of every input image."""
    args = parse_args(argv)
    with one_line_errors(cfg_options=args.cfg_options, config=args.seg_config or args.config):
        paths = collect_image_files(args.inputs, IMAGE_EXTENSIONS)
        if args.seg_config:
            from mmseg.apis import inference_model
            model = init_segmentor(args.seg_config, args.checkpoint, device=args.device,
                                   cfg_options=args.cfg_options)
            num_clusters = len(model.dataset_meta['classes'])
        else:
            model = load_cluster_eval(args.checkpoint, args.config, args.device, args.cfg_options)
            num_clusters = model.assign.prototype_embed.num_embeddings
    # at least 256 colours, so cluster k has the same colour whatever the number of clusters
    palette = prototype_palette(max(num_clusters, 256))
    os.makedirs(args.out_dir, exist_ok=True)
    for path in paths:
        outputs = cluster_map_paths(path, args.out_dir)
        existing = [p for p in outputs.values() if osp.exists(p)]
        if existing and not args.force:
            sys.exit(f'error: {existing[0]} already exists; pass --force to overwrite')
        rgb = read_rgb_image(path)
        if args.seg_config:  # mmseg pipelines load the file themselves
            ids = inference_model(model, path).pred_sem_seg.data[0].cpu().numpy()
        else:
            ids = cluster_eval_ids(model, rgb, args.device)
        write_cluster_maps(ids, rgb, outputs, palette, args.per_image_colors, args.alpha, osp.basename(path))
        print(f'{path}: {len(np.unique(ids))} clusters -> {outputs["overlay"]}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
