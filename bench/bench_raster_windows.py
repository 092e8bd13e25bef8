"""Random windows read from scene files against the same windows pre-cut to PNG and JPEG (results in
docs/benchmarks.md, section "Random windows from scene files").

The bench writes ``--scenes`` scenes of ``--size`` px into a temporary folder (mirrored tiles of the NEON
orthophotos in ../shared/data when present, else procedural scenes), each in several GeoTIFF layouts, draws
``--windows`` windows of ``--window`` px with ``RandomWindowDataset`` and cuts the same windows from the
scenes as PNG and JPEG (q95) files. It then measures, in this process, windows per CPU second (one core) of:

- ``RandomWindowDataset`` with the image loader as its whole pipeline, on every GeoTIFF layout: drawing,
  reading, the no-data check and the loader's conversion, i.e. what a pre-training pipeline receives; every
  lossless layout gives the same windows;
- ``CheckedLoadImageFromFile`` on the pre-cut PNG and JPEG files: what ``UnlabeledImageFolder``'s pipelines
  start with.

Rounds alternate the variants and the best round of each counts. The files sit in the page cache, so disk
reads are not measured; ``--gdal-cache-mb`` (16) keeps the scenes (50 MB each as RGB) from being served from
GDAL's block cache, as a real dataset, far larger than any cache, would not be.

    python bench/bench_raster_windows.py                       # 4 scenes of 4096 px, 200 windows of 512 px
    python bench/bench_raster_windows.py --out windows.json
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

import cv2
import numpy as np
import rasterio
import torch
from mmengine.registry import init_default_scope
from rasterio.transform import from_origin

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from rs_ssl_plugin.datasets import RandomWindowDataset  # noqa: E402
from rs_ssl_plugin.datasets.synthetic import generate_scene  # noqa: E402
from rs_ssl_plugin.datasets.transforms import CheckedLoadImageFromFile  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# ../shared/data next to the checkout (also two levels up, for a git worktree under a sibling folder)
SHARED_IMAGERY = next((path for path in (osp.join(REPO, '..', 'shared', 'data', 'neon_aerial'),
                                         osp.join(REPO, '..', '..', 'shared', 'data', 'neon_aerial'))
                       if osp.isdir(path)), None)
# GeoTIFF layouts: name -> rasterio creation options
LAYOUTS = {
    'tiled 256, ZSTD': dict(tiled=True, blockxsize=256, blockysize=256, compress='zstd'),
    'tiled 128, ZSTD': dict(tiled=True, blockxsize=128, blockysize=128, compress='zstd'),
    'tiled 256, DEFLATE + predictor': dict(tiled=True, blockxsize=256, blockysize=256, compress='deflate',
                                           predictor=2),
    'tiled 128, DEFLATE + predictor': dict(tiled=True, blockxsize=128, blockysize=128, compress='deflate',
                                           predictor=2),
    'tiled 256, uncompressed': dict(tiled=True, blockxsize=256, blockysize=256),
    'tiled 256, JPEG q95 (lossy)': dict(tiled=True, blockxsize=256, blockysize=256, compress='jpeg',
                                        photometric='ycbcr', jpeg_quality=95),
    'strips, DEFLATE + predictor': dict(compress='deflate', predictor=2),
    'strips, uncompressed': dict(),
}
LOSSY = ('tiled 256, JPEG q95 (lossy)', )
PRE_CUT = {'pre-cut PNG': ('png', []), 'pre-cut JPEG q95': ('jpg', [cv2.IMWRITE_JPEG_QUALITY, 95])}


def make_scene(index: int, size: int, source: Optional[np.ndarray]) -> np.ndarray:
    """A ``size`` px BGR scene: the source image mirrored into a seamless tile, repeated, shifted per scene;
    without a source, procedural scenes of 1024 px tiled the same way."""
    if source is None:
        source = generate_scene(index, 1024)[0]
    tile = np.concatenate([source, source[:, ::-1]], 1)
    tile = np.concatenate([tile, tile[::-1]], 0)
    reps = (size // tile.shape[0] + 2, size // tile.shape[1] + 2, 1)
    shift = index * 997 % tile.shape[0]
    return np.ascontiguousarray(np.tile(tile, reps)[shift:shift + size, shift:shift + size])


def write_scenes(root: str, count: int, size: int) -> List[np.ndarray]:
    """The scenes, written once per layout into ``root/<layout>/scene_<i>.tif`` (10 cm, EPSG:32633)."""
    sources = sorted(glob.glob(osp.join(SHARED_IMAGERY or '', '*.png')), key=osp.getsize)
    source = cv2.imread(sources[-1]) if sources else None
    scenes = [make_scene(i, size, source) for i in range(count)]
    for layout, options in LAYOUTS.items():
        folder = osp.join(root, layout_folder(layout))
        os.makedirs(folder)
        for i, scene in enumerate(scenes):
            with rasterio.open(osp.join(folder, f'scene_{i}.tif'), 'w', driver='GTiff', width=size, height=size,
                               count=3, dtype='uint8', crs='EPSG:32633',
                               transform=from_origin(500000, 5000000 + i * 1000, 0.1, 0.1), **options) as dst:
                dst.write(scene[..., ::-1].transpose(2, 0, 1))  # R, G, B
    return scenes


def layout_folder(layout: str) -> str:
    """A folder name for ``layout``."""
    return ''.join(c if c.isalnum() else '_' for c in layout)


def window_dataset(folder: str, args) -> RandomWindowDataset:
    """The scenes of ``folder`` as the dataset, with the image loader as its whole pipeline."""
    return RandomWindowDataset(folder, epoch_length=args.windows, window_size=args.window,
                               gdal_cache_mb=args.gdal_cache_mb, pipeline=[dict(type='CheckedLoadImageFromFile')])


def cpu_seconds(fn: Callable[[int], object], count: int) -> float:
    """CPU time of this process for ``fn(0) ... fn(count - 1)``."""
    start = time.process_time()
    for i in range(count):
        fn(i)
    return time.process_time() - start


def run(args) -> Dict[str, dict]:
    """The table: one row per variant (GeoTIFF layouts, then the pre-cut crops)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    init_default_scope('mmpretrain')
    with tempfile.TemporaryDirectory(prefix='bench_windows_') as root:
        start = time.perf_counter()
        scenes = write_scenes(root, args.scenes, args.size)
        print(f'{args.scenes} scenes of {args.size} px ({"NEON orthophoto" if SHARED_IMAGERY else "procedural"}) '
              f'in {len(LAYOUTS)} layouts: {time.perf_counter() - start:.1f} s', flush=True)
        datasets, rows = {}, {}
        for layout in LAYOUTS:
            folder = osp.join(root, layout_folder(layout))
            start = time.process_time()
            datasets[layout] = window_dataset(folder, args)
            rows[layout] = dict(build_cpu_s=round(time.process_time() - start, 2),
                                mb_per_scene=round(sum(osp.getsize(p) for p in glob.glob(osp.join(folder, '*')))
                                                   / args.scenes / 1e6, 1))
        reference = datasets['tiled 256, ZSTD']
        scene_numbers = {scene.path: i for i, scene in enumerate(reference.scenes)}
        samples = [reference.load_window(i) for i in range(args.windows)]
        windows = [(scene_numbers[s['img_path']], s['scene_window']) for s in samples]
        for layout, dataset in datasets.items():
            same = all(dataset.load_window(i)['scene_window'] == w for i, (_, w) in enumerate(windows))
            if layout not in LOSSY and not same:
                raise RuntimeError(f'{layout} drew other windows than the ZSTD copy of the same scenes')
        loader = CheckedLoadImageFromFile()
        paths = {}
        for name, (ext, options) in PRE_CUT.items():
            folder = osp.join(root, ext)
            os.makedirs(folder)
            paths[name] = []
            for i, (scene, (top, left, height, width)) in enumerate(windows):
                paths[name].append(osp.join(folder, f'{i:05d}.{ext}'))
                cv2.imwrite(paths[name][-1], scenes[scene][top:top + height, left:left + width], options)
            # the crops that would cut one scene into windows
            crops_per_scene = (args.size // args.window) ** 2
            rows[name] = dict(mb_per_scene=round(sum(osp.getsize(p) for p in paths[name]) / args.windows
                                                 * crops_per_scene / 1e6, 1))
        variants = {layout: dataset.__getitem__ for layout, dataset in datasets.items()}
        variants.update({name: (lambda i, files=files: loader.transform(dict(img_path=files[i])))
                         for name, files in paths.items()})
        best = {}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                fn(0)  # warm-up: files opened, first blocks read
                best[name] = min(best.get(name, float('inf')), cpu_seconds(fn, args.windows))
        for name, seconds in best.items():
            rows[name].update(windows_per_cpu_s=round(args.windows / seconds, 1),
                              ms_per_window=round(seconds / args.windows * 1e3, 2))
        for name, row in rows.items():
            row.update(vs_png=round(row['windows_per_cpu_s'] / rows['pre-cut PNG']['windows_per_cpu_s'], 2),
                       vs_jpeg=round(row['windows_per_cpu_s'] / rows['pre-cut JPEG q95']['windows_per_cpu_s'], 2))
    return rows


def main():
    """Run the bench and print (and with ``--out`` write) its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--scenes', type=int, default=4, help='number of scenes')
    parser.add_argument('--size', type=int, default=4096, help='scene side in pixels')
    parser.add_argument('--window', type=int, default=512, help='window side in pixels')
    parser.add_argument('--windows', type=int, default=200, help='windows per variant and round')
    parser.add_argument('--rounds', type=int, default=3, help='alternated rounds; the best counts')
    parser.add_argument('--gdal-cache-mb', type=int, default=16, help="the dataset's GDAL block cache")
    parser.add_argument('--out', help='write the table as JSON')
    args = parser.parse_args()
    rows = run(args)
    print(f'\n{"variant":34s} {"win / CPU s":>11s} {"ms / win":>9s} {"vs PNG":>7s} {"vs JPEG":>8s} '
          f'{"MB / scene":>10s} {"build CPU s":>11s}')
    for name, row in rows.items():
        print(f'{name:34s} {row["windows_per_cpu_s"]:11.1f} {row["ms_per_window"]:9.2f} {row["vs_png"]:7.2f} '
              f'{row["vs_jpeg"]:8.2f} {row["mb_per_scene"]:10} {row.get("build_cpu_s", ""):>11}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(args=vars(args), rows=rows), f, indent=1)


if __name__ == '__main__':
    main()
