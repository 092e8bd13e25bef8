"""Input-pipeline benchmark (results in docs/benchmarks.md; design in docs/input_pipeline.md).

CPU mode (any machine), on 512 px crops the bench writes itself as PNG and JPEG q95 (tiles of the NEON
orthophotos in ../shared/data when present, else procedural scenes):

1. decoding, ms per crop: OpenCV (the loader's ``decode_image``), PIL and torchvision.io; nvJPEG (batched,
   torchvision.io on the GPU) when CUDA is present;
2. the CPU stage of FALSE, SDCluster and SDSH: images/s per core of the shipped configs' loader pipelines
   (decode, crops, flips and the draw of the photometric parameters; collation included) in one process
   and with N DataLoader workers, side by side with the all-CPU pipeline of the same config
   (``on_device=False``), for FALSE the all-CPU pipeline with mmpretrain's
   ``RandomResizedCrop(backend='pillow')`` in place of ``FastRandomResizedCrop``, and mmpretrain's stock SimCLR
   pipeline; rounds alternate the variants and the best of each is kept;
3. the device stage: ``BatchAugmentSelfSupDataPreprocessor`` on one batch against plain normalisation
   (CPU here, the GPU with ``--device cuda``).

End-to-end mode (a GPU machine): the real DataLoader from disk (JPEG crops, every core) feeding the real
``train_step`` of the full model, against the in-memory step at the same batch (the batch already on the GPU
and without photometric parameters: the step bench_false / bench_sdcluster / bench_sdsh time), and the
device stage's share of that step. ``end_to_end(method, ...)`` returns the numbers as a dict.

    python bench/bench_input_pipeline.py --mode cpu --out cpu.json
    python bench/bench_input_pipeline.py --mode end-to-end --device cuda --methods false sdcluster sdsh
"""
import argparse
import copy
import functools
import glob
import io
import json
import os
import os.path as osp
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import mmpretrain
import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from bench_utils import timed  # noqa: E402
from mmcv.transforms import Compose  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import FUNCTIONS, init_default_scope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import rs_ssl_plugin  # noqa: E402,F401
from rs_ssl_plugin.datasets.checks import decode_image  # noqa: E402
from rs_ssl_plugin.datasets.pipeline_config import find_transform, set_augment_on_device  # noqa: E402
from rs_ssl_plugin.datasets.synthetic import generate_scene  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# ../shared/data next to the checkout (also two levels up, for a git worktree under a sibling folder)
SHARED_IMAGERY = next((path for path in (osp.join(REPO, '..', 'shared', 'data', 'neon_aerial'),
                                         osp.join(REPO, '..', '..', 'shared', 'data', 'neon_aerial'))
                       if osp.isdir(path)), None)
METHODS = dict(
    false=dict(config='configs/false_r50_potsdam.py'),
    sdcluster=dict(config='configs/sdcluster_swin-s_millionaid.py'),
    sdsh=dict(config='configs/sdsh_vit-s14_aid-64bit.py'),
)
PARAMS_KEYS = ('photometric_params', 'photometric_recipe')


def write_crops(out_dir: str, count: int, size: int = 512, jpeg_quality: int = 95,
                source_dir: Optional[str] = SHARED_IMAGERY) -> Dict[str, List[str]]:
    """``count`` crops of ``size`` px as PNG (the converter's default) and JPEG; returns the paths by format.

    Tiles of the images in ``source_dir`` (stride ``size // 2``), else procedural scenes."""
    crops = []
    for path in sorted(glob.glob(osp.join(source_dir or '', '*.png'))):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        for y in range(0, image.shape[0] - size + 1, size // 2):
            for x in range(0, image.shape[1] - size + 1, size // 2):
                crops.append(image[y:y + size, x:x + size])
    source = 'NEON orthophoto tiles' if crops else 'procedural scenes'
    seed = 0
    while len(crops) < count:
        crops.append(generate_scene(seed, size)[0])
        seed += 1
    paths = dict(png=[], jpg=[])
    os.makedirs(out_dir, exist_ok=True)
    for i, crop in enumerate(crops[:count]):
        for ext, options in (('png', []), ('jpg', [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])):
            path = osp.join(out_dir, f'{i:05d}.{ext}')
            cv2.imwrite(path, crop, options)
            paths[ext].append(path)
    paths['source'] = source
    return paths


def method_config(method: str) -> Config:
    """The shipped pre-training config of ``method``."""
    return Config.fromfile(osp.join(REPO, METHODS[method]['config']))


def pipelines(method: str) -> Dict[str, list]:
    """The loader pipelines compared for ``method``: its config's (device stage, the default), the same with
    ``on_device=False`` (all-CPU), and for FALSE the all-CPU pipeline with PIL crops and mmpretrain's SimCLR."""
    cfg = method_config(method)
    device = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    set_augment_on_device(cfg, False)
    cpu = cfg.train_dataloader.dataset.pipeline
    out = {'CPU stage (device pipeline)': device, 'all-CPU (on_device=False)': cpu}
    if method == 'false':
        pil_view = [dict(type='RandomResizedCrop', scale=224, backend='pillow'), dict(type='RandomFlip', prob=0.5)]
        pil_view += find_transform(cpu, 'PhotometricAugment')['transforms']
        out['all-CPU, PIL RandomResizedCrop'] = [find_transform(cpu, 'CheckedLoadImageFromFile'),
                                                 dict(type='MultiView', num_views=2, transforms=[pil_view]),
                                                 dict(type='PackInputs')]
        simclr = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', '_base_', 'datasets',
                                          'imagenet_bs32_simclr.py'))
        out['mmpretrain SimCLR (stock)'] = simclr.train_pipeline
    return out


def collate_fn(method: str):
    """The method's collate function (SDSH draws its iBOT masks there)."""
    collate = method_config(method).train_dataloader.collate_fn
    fn = FUNCTIONS.get(collate['type'])
    return functools.partial(fn, **{k: v for k, v in collate.items() if k != 'type'})


class PathDataset(torch.utils.data.Dataset):
    """Image paths through a pipeline (what the configs' datasets do for each sample)."""

    def __init__(self, paths: Sequence[str], pipeline: list):
        self.paths, self.pipeline_cfg = list(paths), pipeline
        self.pipeline = None

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        if self.pipeline is None:  # built in the worker: registries need the default scope there
            init_default_scope('mmpretrain')
            self.pipeline = Compose(self.pipeline_cfg)
        return self.pipeline(dict(img_path=self.paths[index], sample_idx=index))


def worker_init(worker_id: int):
    """One thread per worker and a distinct numpy seed, as mmengine's loaders."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    np.random.seed(worker_id)


def stage_rate(dataset: PathDataset, collate, workers: int, batch: int, seconds: float) -> Tuple[float, float]:
    """Images per second of the CPU stage, wall clock and per CPU second of this process: in this process
    (``workers=0``, one core; the CPU-time rate does not depend on what else the machine runs) or with
    ``workers`` DataLoader workers (wall clock only), after a warm-up; collation included."""
    if workers == 0:
        worker_init(0)
        collate([dataset[i] for i in range(batch)])
        count, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            collate([dataset[(count + i) % len(dataset)] for i in range(batch)])
            count += batch
        return count / (time.perf_counter() - start), count / (time.process_time() - cpu_start)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=10 ** 7)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers,
                                         collate_fn=collate, worker_init_fn=worker_init, prefetch_factor=2)
    batches = iter(loader)
    for _ in range(2 * workers):
        next(batches)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(batches)
        count += batch
    rate = count / (time.perf_counter() - start)
    del batches
    return rate, float('nan')


def cpu_stage_benchmark(paths: Dict[str, List[str]], methods: Sequence[str], formats: Sequence[str],
                        workers: Sequence[int], batch: int = 16, seconds: float = 3.0, rounds: int = 2) -> List[dict]:
    """Images/s (total and per core; in one process also per CPU second) of every compared pipeline, best of
    ``rounds`` alternated rounds; ``speedup``: the device pipeline's CPU stage over this pipeline."""
    rows = {}
    for _ in range(rounds):
        for method in methods:
            collate = collate_fn(method)
            for name, pipeline in pipelines(method).items():
                for fmt in formats:
                    for n in workers:
                        rates = stage_rate(PathDataset(paths[fmt], pipeline), collate, n, batch, seconds)
                        key = (method, name, fmt, n)
                        best = rows.get(key, (0., 0.))
                        rows[key] = (max(best[0], rates[0]), max(best[1], rates[1]) if n == 0 else rates[1])
    table = []
    for (method, name, fmt, n), (rate, cpu_rate) in rows.items():
        reference, cpu_reference = rows[(method, 'CPU stage (device pipeline)', fmt, n)]
        table.append(dict(method=method, pipeline=name, format=fmt, workers=n, images_per_s=round(rate, 1),
                          images_per_s_per_core=round(rate / max(n, 1), 1),
                          images_per_cpu_s=round(cpu_rate, 1) if n == 0 else '-',
                          speedup=round((cpu_reference / cpu_rate) if n == 0 else (reference / rate), 2)))
    return table


def one_batch(method: str, paths: Sequence[str], batch: int) -> dict:
    """A collated batch of the method's device pipeline (uint8 views and their photometric parameters)."""
    np.random.seed(0)
    dataset = PathDataset(paths, pipelines(method)['CPU stage (device pipeline)'])
    return collate_fn(method)([dataset[i % len(dataset)] for i in range(batch)])


def without_params(data: dict) -> dict:
    """The same batch without photometric parameters (the preprocessor then only normalises)."""
    samples = []
    for sample in data['data_samples']:
        sample = sample.clone()
        for key in PARAMS_KEYS:
            if key in sample:
                delattr(sample, key)
        samples.append(sample)
    return dict(inputs=data['inputs'], data_samples=samples)


def device_stage_benchmark(method: str, paths: Sequence[str], batch: int, device: torch.device, warmup: int = 2,
                           iters: int = 5) -> dict:
    """ms per batch of the device stage: the method's preprocessor with the photometric parameters against
    plain normalisation (no parameters), on ``device``."""
    preprocessor = MODELS.build(method_config(method).model.data_preprocessor).to(device)
    data = preprocessor.cast_data(one_batch(method, paths, batch))
    plain = without_params(data)
    augment_s = timed(lambda: preprocessor(data, True), device, warmup, iters)
    normalise_s = timed(lambda: preprocessor(plain, True), device, warmup, iters)
    views = len(data['inputs'])
    return dict(method=method, device=str(device), batch=batch, views_per_image=views,
                with_augmentation_ms=round(augment_s * 1e3, 2), normalisation_only_ms=round(normalise_s * 1e3, 2),
                device_stage_ms=round((augment_s - normalise_s) * 1e3, 2),
                device_stage_ms_per_image=round((augment_s - normalise_s) * 1e3 / batch, 3))


def decode_benchmark(paths: Dict[str, List[str]], formats: Sequence[str], rounds: int = 3,
                     seconds: float = 0.5) -> List[dict]:
    """ms per crop for each decoder, wall clock and CPU time of this process (one thread), best of ``rounds``;
    nvJPEG on a batch of 64 when CUDA is present."""
    from PIL import Image
    from torchvision.io import decode_image as tv_decode
    from torchvision.io import decode_jpeg
    decoders = {
        'OpenCV (decode_image, the loader)': lambda b, p: decode_image(b, p),
        'PIL': lambda b, p: np.asarray(Image.open(io.BytesIO(b)).convert('RGB')),
        'torchvision.io': lambda b, p: tv_decode(torch.frombuffer(bytearray(b), dtype=torch.uint8)),
    }
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    best = {}
    for _ in range(rounds):
        for fmt in formats:
            files = [(open(p, 'rb').read(), p) for p in paths[fmt][:16]]
            for name, decode in decoders.items():
                count, start, cpu_start = 0, time.perf_counter(), time.process_time()
                while time.perf_counter() - start < seconds:
                    decode(*files[count % len(files)])
                    count += 1
                wall, cpu = (time.perf_counter() - start) / count, (time.process_time() - cpu_start) / count
                previous = best.get((fmt, name), (float('inf'), float('inf')))
                best[(fmt, name)] = (min(previous[0], wall), min(previous[1], cpu))
    rows = [dict(format=fmt, decoder=name, ms_per_image=round(wall * 1e3, 2), cpu_ms_per_image=round(cpu * 1e3, 2))
            for (fmt, name), (wall, cpu) in best.items()]
    if 'jpg' in formats and torch.cuda.is_available():
        data = [torch.frombuffer(bytearray(open(p, 'rb').read()), dtype=torch.uint8) for p in paths['jpg'][:16]] * 4
        seconds_per_batch = timed(lambda: decode_jpeg(data, device='cuda'), torch.device('cuda'), 2, 10)
        rows.append(dict(format='jpg', decoder='nvJPEG (torchvision.io, GPU, batch 64)',
                         ms_per_image=round(seconds_per_batch * 1e3 / len(data), 3), cpu_ms_per_image='-'))
    return rows


# ----------------------------------------------------------------------------------------------- end to end

def build_for_step(method: str, device: torch.device, configure: Optional[Callable[[Config], None]] = None):
    """The method's full model and optimiser wrapper as the step benchmarks set them up on a GPU (FALSE: bf16
    and channels_last, SDCluster: its config's fp16 AMP, SDSH: bf16; fp32 on a CPU), with the config's data
    preprocessor; ``configure`` changes the config in place first. Returns them and the config."""
    cfg = method_config(method)
    if configure is not None:
        configure(cfg)
    model_cfg = cfg.model
    model_cfg.data_preprocessor['non_blocking'] = True
    amp = device.type == 'cuda'
    if method == 'false':
        model_cfg.backbone.norm_cfg = dict(type='BN')  # one process: no SyncBN
        wrapper = dict(type='MixedPrecisionOptimWrapper', dtype='bfloat16') if amp else dict(type='OptimWrapper')
        wrapper.update(optimizer=cfg.optim_wrapper.optimizer, paramwise_cfg=cfg.optim_wrapper.paramwise_cfg)
    elif method == 'sdcluster':
        MessageHub.get_current_instance().update_info('max_iters', 10 ** 6)
        wrapper = cfg.optim_wrapper if amp else dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer)
    else:
        model_cfg.backbone.init_cfg = None
        wrapper = dict(type='SDSHAmpOptimWrapper', dtype='bfloat16') if amp else dict(type='SDSHOptimWrapper')
        wrapper.update(constructor=cfg.optim_wrapper.constructor, optimizer=dict(type='AdamW', lr=1e-4),
                       paramwise_cfg=cfg.optim_wrapper.paramwise_cfg, clip_grad=cfg.optim_wrapper.clip_grad)
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    if method == 'false':
        model = model.to(memory_format=torch.channels_last)
    model.train()
    return model, build_optim_wrapper(model, wrapper), cfg


def end_to_end(method: str, device: str = 'cuda', batch: Optional[int] = None, workers: Optional[int] = None,
               warmup: int = 5, steps: int = 20, data_dir: Optional[str] = None, image_format: str = 'jpg',
               num_images: int = 1024, configure: Optional[Callable[[Config], None]] = None) -> dict:
    """The real DataLoader from disk feeding the real ``train_step`` against the in-memory step.

    Args:
        method: ``'false'``, ``'sdcluster'`` or ``'sdsh'`` (the shipped config's model and pipeline).
        device: where the model trains.
        batch: images per step (default: the config's, 256 / 64 / 64).
        workers: DataLoader workers (default: every core).
        warmup: steps before timing.
        steps: timed steps.
        data_dir: a folder of images to read; default: ``num_images`` 512 px crops written as
            ``image_format`` to a temporary folder.
        image_format: file format of the generated images (``'jpg'`` or ``'png'``) without ``data_dir``.
        num_images: number of generated images without ``data_dir``.
        configure: a function that changes the shipped config in place, e.g. a smaller model for a dry run.

    Returns ms per step and images/s of the loader-fed step and of the in-memory step (the same batch already
    on the device, without photometric parameters), their ratio, and the device stage's ms and share.
    """
    init_default_scope('mmpretrain')
    device = torch.device(device)
    torch.backends.cudnn.benchmark = device.type == 'cuda'
    model, optim_wrapper, cfg = build_for_step(method, device, configure)
    batch = batch or cfg.train_dataloader.batch_size
    workers = os.cpu_count() if workers is None else workers
    with tempfile.TemporaryDirectory() as scratch:
        if data_dir is None:
            paths = write_crops(scratch, num_images)[image_format]
        else:
            paths = sorted(p for p in glob.glob(osp.join(data_dir, '**', '*'), recursive=True) if osp.isfile(p))
        dataset = PathDataset(paths, cfg.train_dataloader.dataset.pipeline)
        sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=10 ** 7)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate_fn(method),
            worker_init_fn=worker_init, pin_memory=device.type == 'cuda', persistent_workers=workers > 0,
            prefetch_factor=2 if workers else None, drop_last=True)
        batches = iter(loader)

        def step(data):
            model.train_step(data, optim_wrapper)
            if method == 'sdsh':
                model.update_teacher(0.996)

        def loader_step():
            step(next(batches))

        loaded_s = timed(loader_step, device, warmup, steps)
        data = model.data_preprocessor.cast_data(next(batches))
        plain = without_params(data)
        in_memory_s = timed(lambda: step(plain), device, warmup, steps)
        augmented_s = timed(lambda: step(data), device, warmup, steps)
        augment_s = timed(lambda: model.data_preprocessor(data, True), device, warmup, steps)
        normalise_s = timed(lambda: model.data_preprocessor(plain, True), device, warmup, steps)
    device_stage_s = augment_s - normalise_s
    return dict(
        method=method, device=torch.cuda.get_device_name(device) if device.type == 'cuda' else str(device),
        batch=batch, workers=workers, images=len(paths), image_format=image_format if data_dir is None else data_dir,
        loader_step_ms=round(loaded_s * 1e3, 1), loader_img_per_s=round(batch / loaded_s, 1),
        in_memory_step_ms=round(in_memory_s * 1e3, 1), in_memory_img_per_s=round(batch / in_memory_s, 1),
        in_memory_with_device_stage_ms=round(augmented_s * 1e3, 1),
        loader_over_in_memory=round(loaded_s / in_memory_s, 3),
        device_stage_ms=round(device_stage_s * 1e3, 2), device_stage_share=round(device_stage_s / in_memory_s, 4))


def markdown(rows: List[dict]) -> str:
    """A markdown table of ``rows`` (dicts with the same keys)."""
    keys = list(rows[0])
    lines = ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
    lines += ['| ' + ' | '.join(str(row[k]) for k in keys) + ' |' for row in rows]
    return '\n'.join(lines)


def parse_args():
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--mode', choices=['cpu', 'end-to-end'], default='cpu')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='device stage / end-to-end device')
    parser.add_argument('--methods', nargs='+', choices=sorted(METHODS), default=sorted(METHODS))
    parser.add_argument('--formats', nargs='+', choices=['png', 'jpg'], default=['png', 'jpg'])
    parser.add_argument('--workers', nargs='+', type=int,
                        help='DataLoader worker counts; 0 = in this process (default: 0, 2 and every core)')
    parser.add_argument('--images', type=int, default=64, help='crops to write (CPU mode)')
    parser.add_argument('--imagery', default=SHARED_IMAGERY,
                        help='folder of large PNG images to cut the crops from (default: ../shared/data/neon_aerial '
                        'when present; else procedural scenes)')
    parser.add_argument('--batch', type=int, help='CPU-stage batch (16) / device-stage batch (8 on CPU, the '
                        "config's on a GPU) / end-to-end batch (the config's)")
    parser.add_argument('--seconds', type=float, default=3.0, help='time per CPU-stage measurement')
    parser.add_argument('--rounds', type=int, default=2, help='alternated rounds, best kept')
    parser.add_argument('--steps', type=int, default=20, help='timed end-to-end steps')
    parser.add_argument('--data-dir', help='end-to-end: read these images instead of writing crops')
    parser.add_argument('--out', help='write the results as JSON here')
    return parser.parse_args()


def main():
    """Run the chosen mode, print markdown tables and write the JSON."""
    args = parse_args()
    init_default_scope('mmpretrain')
    device = torch.device(args.device)
    if args.mode == 'end-to-end':
        results = dict(end_to_end=[end_to_end(m, args.device, args.batch, steps=args.steps, data_dir=args.data_dir)
                                   for m in args.methods])
        print(markdown(results['end_to_end']))
    else:
        workers = args.workers or sorted({0, 2, os.cpu_count()})
        with tempfile.TemporaryDirectory() as scratch:
            paths = write_crops(scratch, args.images, source_dir=args.imagery)
            decode = decode_benchmark(paths, args.formats)
            print(markdown(decode), flush=True)
            stage = cpu_stage_benchmark(paths, args.methods, args.formats, workers, args.batch or 16, args.seconds,
                                        args.rounds)
            print(markdown(stage), flush=True)
            device_batch = args.batch or (8 if device.type == 'cpu' else None)
            device_stage = [device_stage_benchmark(m, paths['jpg'], device_batch or
                                                   method_config(m).train_dataloader.batch_size, device)
                            for m in args.methods]
            print(markdown(device_stage))
        results = dict(source=paths['source'], cpu_count=os.cpu_count(), torch=torch.__version__, decode=decode,
                       cpu_stage=stage, device_stage=device_stage)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
