"""Cluster maps of a pre-trained model over images of any size: SDCluster's ClusterEval, or any mmseg
segmentor whose predictions are cluster ids (e.g. IDDC).

    # SDCluster: the released ClusterEval.pt, an official training checkpoint or this plugin's Runner
    # checkpoint (teacher branch), architecture from the pre-training config (Swin-S by default)
    python tools/vis_cluster.py ClusterEval.pt images/ --out-dir vis_out
    python tools/vis_cluster.py work_dirs/sdcluster/epoch_100.pth scene.tif --config configs/sdcluster_swin-s_millionaid.py
    # an mmseg segmentor (IDDC)
    python tools/vis_cluster.py iter_2000.pth images/ --seg-config configs/iddc_vit-s16_potsdam3.py

For every input writes <name>_clusters.png (uint8 ids, or uint16 above 256 clusters), <name>_color.png and
<name>_overlay.png. Colours are fixed per cluster across images; --per-image-colors rescales them per
image with the JET map, as the official visualiser does. Inputs: image files or folders (JPEG, PNG, TIFF,
GeoTIFF); ClusterEval runs at native resolution and upsamples the stride-16 scores (nearest, as official).
Existing outputs are never overwritten unless --force.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.converters import CONVERTERS  # noqa: E402
from rs_ssl_plugin.datasets.checks import collect_image_files, read_image_file  # noqa: E402
from rs_ssl_plugin.utils import read_state_dict  # noqa: E402
from rs_ssl_plugin.visualization import colorize_clusters, overlay, prototype_palette  # noqa: E402

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')
IMAGENET_MEAN_RGB = (123.675, 116.28, 103.53)
IMAGENET_STD_RGB = (58.395, 57.12, 57.375)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint', help='ClusterEval/SDCluster checkpoint, or a segmentor checkpoint')
    parser.add_argument('inputs', nargs='+', help='image files or folders')
    parser.add_argument('--out-dir', default='vis_out', help='output folder')
    parser.add_argument('--config', help='SDCluster pre-training config giving the architecture '
                        '(default: the official Swin-S, 256 prototypes)')
    parser.add_argument('--seg-config', help='an mmseg segmentor config; its predictions are the clusters')
    parser.add_argument('--per-image-colors', action='store_true',
                        help='official colouring: ids min-max scaled per image, JET colour map')
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity of the colours')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--force', action='store_true', help='overwrite existing outputs')
    return parser.parse_args(argv)


def read_rgb(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB; grey images are repeated, extra bands (e.g. NIR) dropped."""
    img = read_image_file(path, 'input image')
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.dtype != np.uint8:
        raise ValueError(f'{path}: expected 8-bit imagery, got {img.dtype}')
    return np.ascontiguousarray(img[..., 2::-1] if img.shape[2] >= 3 else img)


def clustereval_config(config_path=None) -> dict:
    """ClusterEval built from the backbone/neck/prototypes of an SDCluster config, or the official Swin-S."""
    if config_path is None:
        encoder = dict(type='SwinTransformerOS16')
        projector = dict(type='GELUMLP', in_channels=768, hidden_channels=2048, out_channels=256, dense=True)
        assign = dict(type='ClusterPrototypes', num_prototypes=256, dim=256)
    else:
        from mmengine.config import Config
        model = Config.fromfile(config_path).model
        encoder, projector, assign = model.backbone, model.neck, model.prototypes
    return dict(type='ClusterEval', encoder=encoder, projector=projector, assign=assign)


def load_clustereval(checkpoint: str, config_path, device):
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope('mmpretrain')
    model = MODELS.build(clustereval_config(config_path))
    state_dict = CONVERTERS['sdcluster-clustereval'](read_state_dict(checkpoint))
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise ValueError(f'{checkpoint} does not fit the ClusterEval architecture'
                         f'{" of " + config_path if config_path else ""}: missing {missing[:5]}, '
                         f'unexpected {unexpected[:5]}')
    return model.to(device).eval()


def clustereval_ids(model, rgb: np.ndarray, device) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN_RGB, device=device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD_RGB, device=device).view(3, 1, 1)
    x = (torch.from_numpy(rgb).to(device).permute(2, 0, 1).float() - mean) / std
    scores = model(x[None])
    scores = F.interpolate(scores, size=rgb.shape[:2], mode='nearest')
    return scores.argmax(1)[0].cpu().numpy(), scores.shape[1]


def main(argv=None):
    args = parse_args(argv)
    try:
        paths = collect_image_files(args.inputs, IMAGE_EXTENSIONS)
        if args.seg_config:
            from mmseg.apis import inference_model, init_model
            model = init_model(args.seg_config, args.checkpoint, device=args.device)
            num_clusters = len(model.dataset_meta['classes'])
        else:
            model = load_clustereval(args.checkpoint, args.config, args.device)
            num_clusters = model.assign.prototype_embed.num_embeddings
    except (FileNotFoundError, ValueError, KeyError) as error:
        sys.exit(f'error: {error}')
    # at least 256 colours, so cluster k has the same colour whatever the number of clusters
    palette = prototype_palette(max(num_clusters, 256))
    os.makedirs(args.out_dir, exist_ok=True)
    for path in paths:
        name = osp.splitext(osp.basename(path))[0]
        outputs = {kind: osp.join(args.out_dir, f'{name}_{kind}.png') for kind in ('clusters', 'color', 'overlay')}
        existing = [p for p in outputs.values() if osp.exists(p)]
        if existing and not args.force:
            sys.exit(f'error: {existing[0]} already exists; pass --force to overwrite')
        rgb = read_rgb(path)
        if args.seg_config:
            # mmseg pipelines load BGR from the file themselves
            ids = inference_model(model, path).pred_sem_seg.data[0].cpu().numpy()
        else:
            with torch.no_grad():
                ids, _ = clustereval_ids(model, rgb, args.device)
        colors = colorize_clusters(ids, palette, per_image=args.per_image_colors)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        cv2.imwrite(outputs['clusters'], ids.astype(np.uint8 if num_clusters <= 256 else np.uint16))
        cv2.imwrite(outputs['color'], colors)
        cv2.imwrite(outputs['overlay'], overlay(bgr, colors, args.alpha))
        print(f'{path}: {len(np.unique(ids))} clusters -> {outputs["overlay"]}')


if __name__ == '__main__':
    main()
