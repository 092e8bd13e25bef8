r"""Frozen-backbone evaluation: what did pre-training learn, in minutes, without fine-tuning?

    # weighted kNN (cosine, k=20, T=0.07, as DINO) / linear probe on a class-folder scene set (UC Merced, AID,
    # Million-AID with --class-depth 3), seeded split, against random init
    python tools/eval_backbone.py configs/false_r50_potsdam.py work_dirs/false/backbone.pth random \
        --task knn --data-root data/UCMerced_LandUse/Images --train-ratio 0.5
    # 1x1 probe on frozen multi-scale features of a segmentation set (the train / val datasets of a
    # segmentation config), mIoU with the per-class table
    python tools/eval_backbone.py configs/upernet_r50_false_potsdam.py pretrain/false_r50.pth random \
        --task seg-probe

CONFIG is any config whose backbone the plugin builds: a pre-training config (its model.backbone), a
segmentation config, or a backbone-only config (`backbone = dict(...)`, optional `data_preprocessor`). Each
CKPT is an exported SSL backbone (tools/export_backbone.py), a converted official release
(tools/model_converters/convert_official.py), a Runner checkpoint, or `random` for the random-init baseline;
weights load strictly (missing or unexpected keys are listed and stop the run). Features are cached under
<work-dir>/feature_cache by a hash of the weights, the config and the image files. Results: a table on
stdout, <work-dir>/<task>_results.json and .csv (per class). Existing results are never overwritten unless
--force.
"""
import argparse
import os.path as osp

import torch
from mmengine.config import DictAction

from rs_ssl_plugin.datasets.class_folders import list_class_folder, read_split_list, seeded_split
from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.evaluation.backbone_probes import (
    WEIGHT_DECAYS,
    classification_features,
    knn_scores,
    linear_scores,
    per_class_table,
    result_paths,
    save_results,
    seg_probe_data_from_config,
    seg_probe_scores,
    summary_table,
)
from rs_ssl_plugin.evaluation.features import FeatureCache, build_frozen_backbone, load_config
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning

TASKS = ('knn', 'linear', 'seg-probe')


def parse_args(argv=None):
    """The command-line options (``argv``: a list, default ``sys.argv``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('config', help='pre-training, segmentation or backbone-only config (a file or a package '
                        'path such as mmseg::...)')
    parser.add_argument('checkpoints', nargs='+', metavar='CKPT', help="backbone weights, or 'random'")
    parser.add_argument('--task', choices=TASKS, required=True,
                        help='knn / linear: scene classification on a class-folder set; seg-probe: 1x1 segmentation '
                        'probe on the datasets of a segmentation config')
    parser.add_argument('--data-root', help='knn/linear: class-folder root (root/<class>/<image>); seg-probe: '
                        'replaces data_root of the data config\'s datasets')
    parser.add_argument('--class-depth', type=int, default=1,
                        help='folder levels from the root to the classes (3 for Million-AID level 3)')
    parser.add_argument('--train-ratio', type=float, default=0.5, help='share of each class used for training')
    parser.add_argument('--train-list', help='list file of the training images (path [label]) instead of a split')
    parser.add_argument('--test-list', help='list file of the test images (with --train-list)')
    parser.add_argument('--data-config', help='seg-probe: config whose train_dataloader / val_dataloader datasets '
                        'are used, a file or a package path such as mmseg::_base_/datasets/loveda.py '
                        '(default: CONFIG)')
    parser.add_argument('--img-size', type=int, default=224, help='knn/linear: images are resized to this square')
    parser.add_argument('--k', type=int, default=20, help='knn: neighbours')
    parser.add_argument('--temperature', type=float, default=0.07, help='knn: vote temperature')
    parser.add_argument('--weight-decay', type=float, nargs='+',
                        help=f'linear: L2 weights to choose from on a held-out 20%% of the training split '
                        f'(default {WEIGHT_DECAYS}); seg-probe: the one used (default 1e-4)')
    parser.add_argument('--probe-stride', type=int, default=8, help='seg-probe: pixels per feature-grid cell')
    parser.add_argument('--max-train-pixels', type=int,
                        help='seg-probe: labelled grid cells sampled for training (default: 1e8 feature values)')
    parser.add_argument('--out-indices', type=int, nargs='+',
                        help='backbone outputs to use (seg-probe default: all four stages of a ResNet, else the '
                        'config\'s)')
    parser.add_argument('--prefix', default='backbone.', help='key prefix of the backbone in the checkpoints')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    parser.add_argument('--batch-size', type=int,
                        help='images per forward pass (default 64; seg-probe: 8, of equal size, full resolution)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='where the backbone runs')
    parser.add_argument('--seed', type=int, default=0, help='split, random init, probe sampling')
    parser.add_argument('--work-dir', help='for <task>_results.json and .csv and the feature cache (default '
                        'work_dirs/eval_backbone/<config name>)')
    parser.add_argument('--no-cache', action='store_true', help='do not read or write cached features')
    parser.add_argument('--force', action='store_true', help='overwrite existing result files')
    add_unsafe_load_argument(parser)
    return parser.parse_args(argv)


def classification_data(args):
    """``(classes, train, test)`` samples of the class-folder set."""
    if not args.data_root:
        raise ValueError(f'--task {args.task} needs --data-root (a class-folder scene set)')
    classes, files = list_class_folder(args.data_root, depth=args.class_depth)
    if bool(args.train_list) != bool(args.test_list):
        raise ValueError('give both --train-list and --test-list, or neither')
    if args.train_list:
        return classes, (read_split_list(args.train_list, args.data_root, classes),
                         read_split_list(args.test_list, args.data_root, classes))
    return classes, seeded_split(files, args.train_ratio, args.seed)


def main(argv=None):
    """Evaluate every checkpoint, print the tables, write the JSON and CSV; returns the report."""
    args = parse_args(argv)
    work_dir = args.work_dir or osp.join('work_dirs', 'eval_backbone', osp.splitext(osp.basename(args.config))[0])
    out = osp.join(work_dir, f'{args.task.replace("-", "_")}_results.json')
    cache = FeatureCache(None if args.no_cache else osp.join(work_dir, 'feature_cache'))
    with one_line_errors(work_dir=work_dir, cfg_options=args.cfg_options, config=args.config):
        result_paths(out, args.force)  # fail before the work, not after it
        cfg = load_config(args.config, args.cfg_options)
        if args.task == 'seg-probe':
            data_cfg = load_config(args.data_config, args.cfg_options) if args.data_config else cfg
            data = seg_probe_data_from_config(data_cfg, args.data_root)
            settings = dict(data_config=args.data_config or args.config, train_images=len(data.train),
                            test_images=len(data.test), probe_stride=args.probe_stride,
                            max_train_pixels=args.max_train_pixels,
                            weight_decay=(args.weight_decay or [1e-4])[0])
        else:
            classes, (train, test) = classification_data(args)
            settings = dict(data_root=args.data_root, classes=list(classes), train_images=len(train),
                            test_images=len(test), img_size=args.img_size, split=args.train_list or
                            f'seeded {args.train_ratio} per class, seed {args.seed}')
            settings.update(dict(k=args.k, temperature=args.temperature) if args.task == 'knn' else
                            dict(weight_decays=list(args.weight_decay or WEIGHT_DECAYS)))
        results = []
        for checkpoint in args.checkpoints:
            backbone = build_frozen_backbone(cfg, checkpoint, None, args.device, args.prefix, args.seed,
                                             args.out_indices, multi_scale=args.task == 'seg-probe')
            print(f'{backbone.label}: {backbone.weights}', flush=True)
            if args.task == 'seg-probe':
                scores = seg_probe_scores(backbone, data, args.probe_stride, args.max_train_pixels,
                                          settings['weight_decay'], args.seed, cache, batch_size=args.batch_size or 8)
            else:
                features = classification_features(backbone, train, test, args.img_size, args.batch_size or 64,
                                                   cache)
                scores = (knn_scores(features, classes, args.k, args.temperature) if args.task == 'knn' else
                          linear_scores(features, classes, args.weight_decay or WEIGHT_DECAYS, args.seed))
            result = dict(label=backbone.label, checkpoint=checkpoint, weights=backbone.weights, **scores)
            print(f'{backbone.label}, per class:\n{per_class_table(result)}', flush=True)
            results.append(result)
        report = dict(task=args.task, config=args.config, settings=settings, results=results)
        json_path, csv_path = save_results(report, out, args.force)
    print(summary_table(args.task, results))
    print(f'wrote {json_path} and {csv_path}')
    return report


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
