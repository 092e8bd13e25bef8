r"""Tiled inference of a large scene: rs_ssl_plugin.apis against mmseg's stock slide inference.

Both run the same UperNet (configs/upernet_r50_false_potsdam.py, random weights, BN, the backbone depth
given) with the same crop and stride on the same synthetic scene:

- stock: the scene tensor through the model's data preprocessor and ``model.predict`` with
  ``test_cfg=dict(mode='slide')`` (one window per forward, the whole scene's logits in float32), under
  autocast when --amp is set; what mmseg's test loop and ``inference_model`` do.
- plugin, in memory: ``iter_class_rows`` on the same pixels (batched windows, logits accumulated in a row
  band on the device, argmax on the device, channels_last on CUDA), class map to the host.
- plugin, files: ``segment_raster`` from a GeoTIFF on disk (lazy windowed reads) to the class GeoTIFF and
  the colour PNG, i.e. what tools/infer_tiles.py does.

Agreement is measured with uniform blending (which must reproduce stock slide inference): the share of
pixels with the same class and the largest difference of the averaged logits. Throughput is scene
megapixels per second from the median of --iters rounds (after a warm-up round) in which the three run
in turn, so that load drifting on a shared machine affects them alike.

    python bench/bench_infer_tiles.py --device cpu --size 1024 --crop 256 --stride 171 --depth 18 \
        --channels 128 --batch-size 8 --threads 1
    python bench/bench_infer_tiles.py --device cuda --size 6000 --crop 512 --stride 341 --amp bf16 \
        --batch-size 16
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import rasterio
import torch
from mmengine.config import Config
from rasterio.transform import from_origin

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from rs_ssl_plugin.apis.scene_io import ArrayScene, RasterScene, segment_raster
from rs_ssl_plugin.apis.tiled_inference import AMP_DTYPES, ClassCoding, iter_blended_logits, iter_class_rows
from rs_ssl_plugin.datasets.synthetic import generate_scene  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'upernet_r50_false_potsdam.py')
POTSDAM_PALETTE = [[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0], [255, 255, 0], [255, 0, 0]]
INDEX_CODING = ClassCoding(offset=0, nodata=255, dtype='uint8')  # 0-based, as stock mmseg's predictions


def build_model(depth, channels, crop, stride, device):
    """The UperNet of the Potsdam config (random weights, BN, ResNet ``depth``) for slide inference."""
    from mmseg.apis import init_model
    cfg = Config.fromfile(CONFIG)
    widths = [64, 128, 256, 512] if depth < 50 else [256, 512, 1024, 2048]
    norm_cfg = dict(type='BN', requires_grad=True)
    cfg.model.backbone.update(depth=depth, norm_cfg=norm_cfg, init_cfg=None)
    cfg.model.decode_head.update(in_channels=widths, channels=channels, norm_cfg=norm_cfg)
    cfg.model.auxiliary_head.update(in_channels=widths[2], norm_cfg=norm_cfg)
    cfg.model.test_cfg = dict(mode='slide', crop_size=(crop, crop), stride=(stride, stride))
    return init_model(cfg, None, device=str(device))


def synthetic_scene(size):
    """A ``size x size`` RGB scene (``(3, H, W)`` uint8): a synthetic aerial scene, tiled when large."""
    tile, _ = generate_scene(seed=0, size=min(size, 1024))
    reps = -(-size // tile.shape[0])
    bgr = np.tile(tile, (reps, reps, 1))[:size, :size]
    return np.ascontiguousarray(bgr[..., ::-1].transpose(2, 0, 1))


def interleaved(runs, device, iters):
    """Median seconds per call of each ``name: (setup, fn)`` and the last result of each ``fn``.

    After one warm-up round the functions are called in turn ``iters`` times, so load drifting on a shared
    machine affects them alike; ``setup`` (untimed) runs before each call.
    """
    def call(setup, fn):
        setup()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start, result

    results = {name: call(*run)[1] for name, run in runs.items()}
    seconds = {name: [] for name in runs}
    for _ in range(iters):
        for name, run in runs.items():
            elapsed, results[name] = call(*run)
            seconds[name].append(elapsed)
    return {name: statistics.median(values) for name, values in seconds.items()}, results


def run(device, size=6000, crop=512, stride=341, depth=50, channels=512, batch_size=16, amp='none', iters=None):
    """Stock slide inference against the plugin (in memory and file to file) on one synthetic scene; the
    timings, throughputs, speed-ups and agreements (see the module docstring)."""
    device = torch.device(device)
    on_cuda = device.type == 'cuda'
    iters = iters or (5 if on_cuda else 3)
    torch.backends.cudnn.benchmark = True  # mmseg's default_runtime sets env_cfg.cudnn_benchmark=True
    model = build_model(depth, channels, crop, stride, device)
    rgb = synthetic_scene(size)
    megapixels = size * size / 1e6
    crop_hw, stride_hw = (crop, crop), (stride, stride)
    dtype = AMP_DTYPES[amp]

    from mmseg.structures import SegDataSample
    bgr_tensor = torch.from_numpy(rgb[::-1].copy())  # mmseg loads BGR with OpenCV
    shape = (size, size)

    def stock_inputs():
        sample = SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape, pad_shape=shape))
        return model.data_preprocessor(dict(inputs=[bgr_tensor], data_samples=[sample]), False)

    def stock():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            data = stock_inputs()
            result = model.predict(data['inputs'], data['data_samples'])
        return result[0].pred_sem_seg.data[0].cpu().numpy()

    def stock_layout():  # stock mmseg runs the model as built
        model.to(memory_format=torch.contiguous_format)

    def plugin_layout():
        if on_cuda:
            model.to(memory_format=torch.channels_last)

    options = dict(batch_size=batch_size, amp=amp, channels_last=on_cuda)
    scene = ArrayScene(rgb)

    def plugin(blend='uniform'):
        classes = np.empty(shape, np.uint8)
        for top, rows in iter_class_rows(model, scene, crop_hw, stride_hw, INDEX_CODING, blend=blend, **options):
            classes[top:top + len(rows)] = rows
        return classes

    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'scene.tif')
        with rasterio.open(src, 'w', driver='GTiff', width=size, height=size, count=3, dtype='uint8',
                           crs='EPSG:32633', transform=from_origin(368000, 5808000, 0.05, 0.05), tiled=True,
                           blockxsize=256, blockysize=256) as dst:
            dst.write(rgb)

        def plugin_files():
            with RasterScene(src) as raster:
                segment_raster(model, raster, osp.join(tmp, 'scene_classes.tif'), osp.join(tmp, 'scene_color.png'),
                               POTSDAM_PALETTE, crop_hw, stride_hw, blend='cosine', **options)

        seconds, outputs = interleaved(dict(stock=(stock_layout, stock), plugin_memory=(plugin_layout, plugin),
                                            plugin_files_cosine=(plugin_layout, plugin_files)), device, iters)
    stock_s, plugin_s, files_s = seconds['stock'], seconds['plugin_memory'], seconds['plugin_files_cosine']
    stock_pred, plugin_pred = outputs['stock'], outputs['plugin_memory']

    stock_layout()
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        data = stock_inputs()
        stock_logits = model.slide_inference(data['inputs'], [s.metainfo for s in data['data_samples']])[0]
    del data
    plugin_layout()
    cosine_pred = plugin('cosine')
    max_logit_diff = max((stock_logits[:, top:top + rows.shape[1]] - rows).abs().max().item()
                         for top, rows in iter_blended_logits(model, scene, crop_hw, stride_hw, **options))
    del stock_logits

    return dict(
        device=torch.cuda.get_device_name() if on_cuda else 'cpu', torch=torch.__version__,
        threads=torch.get_num_threads(), size=size, crop=crop, stride=stride, depth=depth,
        head_channels=channels, batch_size=batch_size, amp=amp, iters=iters,
        stock_s=stock_s, stock_mpix_per_s=megapixels / stock_s,
        plugin_memory_s=plugin_s, plugin_memory_mpix_per_s=megapixels / plugin_s,
        plugin_files_cosine_s=files_s, plugin_files_cosine_mpix_per_s=megapixels / files_s,
        speedup_memory=stock_s / plugin_s, speedup_files=stock_s / files_s,
        uniform_pixel_agreement_pct=100 * float((plugin_pred == stock_pred).mean()),
        uniform_max_logit_diff=max_logit_diff,
        cosine_pixel_agreement_pct=100 * float((cosine_pred == stock_pred).mean()))


def main():
    """Command line: run, print and save the results; fail if fp32 uniform blending differs from stock."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--size', type=int, default=6000, help='scene height and width')
    parser.add_argument('--crop', type=int, default=512)
    parser.add_argument('--stride', type=int, default=341)
    parser.add_argument('--depth', type=int, default=50, help='ResNet depth of the UperNet')
    parser.add_argument('--channels', type=int, default=512, help='UperNet head channels (stock: 512)')
    parser.add_argument('--batch-size', type=int, default=16, help='windows per forward (plugin)')
    parser.add_argument('--amp', choices=tuple(AMP_DTYPES), default='none')
    parser.add_argument('--iters', type=int, default=None, help='timed rounds (default: 5 on CUDA, 3 on CPU)')
    parser.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s choice)')
    parser.add_argument('--out', help='write the results as JSON here')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run(args.device, args.size, args.crop, args.stride, args.depth, args.channels, args.batch_size,
                  args.amp, args.iters)
    print(json.dumps(results, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    if args.amp == 'none' and not results['uniform_max_logit_diff'] < 1e-3:
        sys.exit('uniform blending disagrees with stock slide inference')


if __name__ == '__main__':
    main()
