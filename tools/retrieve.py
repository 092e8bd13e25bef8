"""SDSH retrieval: evaluate a checkpoint on a dataset, or search a folder of images with a query image.

Evaluate (database + queries of the config's test set; mAP over the whole database, mAP@K, P@N, and the
precision-recall curve saved as a plot):

    python tools/retrieve.py eval configs/sdsh_vit-s14_ucmd-64bit.py work_dirs/sdsh/best.pth \
        --work-dir work_dirs/sdsh_eval --pr-curve work_dirs/sdsh_eval/pr_curve.png

Search (index every image under a folder with the teacher's hash codes, rank by Hamming distance,
draw the query and its nearest images):

    python tools/retrieve.py search configs/sdsh_vit-s14_ucmd-64bit.py work_dirs/sdsh/best.pth \
        --folder data/UCMerced_LandUse/Images --query some.tif --topk 8 --out nearest.png \
        [--save-index index.pth | --load-index index.pth]

Ties in Hamming distance keep index order (sorted file paths). Outputs are never overwritten unless --force.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import rs_ssl_plugin  # noqa: E402,F401

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.gif')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('eval', 'search'):
        p = sub.add_parser(name)
        p.add_argument('config')
        p.add_argument('checkpoint', help='SDSH checkpoint (the teacher is used)')
        p.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides of the config')
        p.add_argument('--force', action='store_true', help='overwrite existing output files')
    ev = sub.choices['eval']
    ev.add_argument('--work-dir', help='where logs go (default work_dirs/<config>_retrieval)')
    ev.add_argument('--pr-curve', help='save the precision-recall plot here (+ .json)')
    se = sub.choices['search']
    se.add_argument('--query', required=True, help='query image')
    se.add_argument('--folder', help='folder of images to index (recursively)')
    se.add_argument('--load-index', help='use an index written by --save-index instead of --folder')
    se.add_argument('--save-index', help='write the folder index (paths and codes) here')
    se.add_argument('--topk', type=int, default=8)
    se.add_argument('--out', default='nearest.png', help='picture of the query and its nearest images')
    se.add_argument('--batch-size', type=int, default=32)
    se.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def load_config(path, options):
    from mmengine.config import Config, DictAction
    cfg = Config.fromfile(path)
    if options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o'] + list(options)).o)
    return cfg


def refuse_overwrite(path, force):
    if path and osp.exists(path) and not force:
        raise FileExistsError(f'{path} already exists; pass --force to overwrite it')


def run_eval(args):
    from mmengine.runner import Runner
    cfg = load_config(args.config, args.cfg_options)
    refuse_overwrite(args.pr_curve, args.force)
    cfg.work_dir = args.work_dir or osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0] + '_retrieval')
    cfg.load_from = args.checkpoint
    cfg.model.backbone.pop('init_cfg', None)
    if args.pr_curve:
        cfg.test_evaluator.pr_curve_file = args.pr_curve
    return Runner.from_cfg(cfg).test()


def build_model(cfg, checkpoint, device):
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return model.to(device).eval()


def encode(model, cfg, paths, batch_size):
    """Binary codes ``(len(paths), bits)`` of the images with the config's test pipeline."""
    import torch
    from mmengine.dataset import Compose, default_collate
    from rs_ssl_plugin.evaluation.retrieval_metric import binarize
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    codes = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            batch = default_collate([pipeline(dict(img_path=p)) for p in paths[start:start + batch_size]])
            batch = model.data_preprocessor(batch, False)
            codes += [binarize(s.hash_feature.cpu()) for s in model.predict(batch['inputs'], batch['data_samples'])]
    return torch.stack(codes)


def draw(query, results, out, bits):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import mmcv
    panels = [(query, 'query')] + [(p, f'#{i + 1}  d={d:g}') for i, (p, d) in enumerate(results)]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6))
    for ax, (path, title) in zip(axes, panels):
        ax.imshow(mmcv.imread(path, channel_order='rgb'))
        ax.set_title(title + '\n' + osp.basename(path), fontsize=7)
        ax.axis('off')
    fig.suptitle(f'Hamming ranking, {bits}-bit codes', fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def run_search(args):
    import torch
    from rs_ssl_plugin.datasets.checks import list_images, require_dir
    from rs_ssl_plugin.evaluation.retrieval_metric import hamming_distance
    if not osp.isfile(args.query):
        raise FileNotFoundError(f'query image {args.query} does not exist')
    if bool(args.folder) == bool(args.load_index):
        raise ValueError('give exactly one of --folder and --load-index')
    refuse_overwrite(args.out, args.force)
    refuse_overwrite(args.save_index, args.force)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, args.device)
    if args.load_index:
        index = torch.load(args.load_index, map_location='cpu', weights_only=True)
        paths, codes = index['paths'], index['codes']
    else:
        require_dir(args.folder, 'image folder')
        paths = list_images(args.folder, IMAGE_EXTENSIONS)
        if not paths:
            raise ValueError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) under {args.folder}')
        codes = encode(model, cfg, paths, args.batch_size)
        if args.save_index:
            torch.save(dict(paths=paths, codes=codes), args.save_index)
    query_code = encode(model, cfg, [args.query], 1)
    if query_code.size(1) != codes.size(1):
        raise ValueError(f'the index holds {codes.size(1)}-bit codes but the model gives {query_code.size(1)}')
    distance = hamming_distance(query_code, codes)[0]
    order = torch.sort(distance, stable=True).indices[:args.topk]
    results = [(paths[i], float(distance[i])) for i in order]
    for rank, (path, d) in enumerate(results, 1):
        print(f'{rank:3d}  hamming={d:g}  {path}')
    draw(args.query, results, args.out, codes.size(1))
    print(f'wrote {args.out}')
    return results


def main(argv=None):
    args = parse_args(argv)
    try:
        return run_eval(args) if args.command == 'eval' else run_search(args)
    except (FileNotFoundError, FileExistsError, KeyError, ValueError) as error:
        sys.exit(f'error: {error}')


if __name__ == '__main__':
    main()
