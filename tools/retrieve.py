r"""SDSH retrieval: evaluate a checkpoint on a dataset, or search a folder of images with a query image.

Evaluate (database + queries of the config's test set; mAP over the whole database, mAP@K, P@N, and the
precision-recall curve saved as a plot):

    python tools/retrieve.py eval configs/sdsh_vit-s14_ucmd-64bit.py work_dirs/sdsh/best.pth \
        --work-dir work_dirs/sdsh_eval --pr-curve work_dirs/sdsh_eval/pr_curve.png

Search (index every image under a folder with the teacher's hash codes, rank by Hamming distance,
draw the query and its nearest images to <show-dir>/<query name>_nearest.png):

    python tools/retrieve.py search configs/sdsh_vit-s14_ucmd-64bit.py work_dirs/sdsh/best.pth \
        --folder data/UCMerced_LandUse/Images --query some.tif --topk 8 --show-dir work_dirs/sdsh_search \
        [--save-index index.pth | --load-index index.pth]

Ties in Hamming distance keep index order (sorted file paths). Outputs are never overwritten unless --force.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction

from rs_ssl_plugin.engine.runner_config import add_unsafe_load_argument
from rs_ssl_plugin.methods.sdsh.retrieval import evaluate_retrieval, search_folder
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Arguments of the ``eval`` or ``search`` sub-command from ``argv`` (default ``sys.argv``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True, help='what to do')
    commands = dict(eval='metrics on the config\'s test set (database and queries)',
                    search='the nearest images of a query image in a folder')
    for name, purpose in commands.items():
        p = sub.add_parser(name, help=purpose, description=purpose, formatter_class=ToolHelpFormatter)
        p.add_argument('config', help='SDSH config (its model and test pipeline)')
        p.add_argument('checkpoint', help='SDSH checkpoint (the teacher is used)')
        p.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides of the config')
        p.add_argument('--force', action='store_true', help='overwrite existing output files')
        add_unsafe_load_argument(p)
    ev = sub.choices['eval']
    ev.add_argument('--work-dir', help='where logs go (default work_dirs/<config>_retrieval)')
    ev.add_argument('--pr-curve', help='save the precision-recall plot here (+ .json)')
    se = sub.choices['search']
    se.add_argument('--query', required=True, help='query image')
    se.add_argument('--folder', help='folder of images to index (recursively)')
    se.add_argument('--load-index', help='use an index written by --save-index instead of --folder')
    se.add_argument('--save-index', help='write the folder index (paths and codes) here')
    se.add_argument('--topk', type=int, default=8, help='nearest images shown and returned')
    se.add_argument('--show-dir', default='.',
                    help='folder for <query name>_nearest.png, the picture of the query and its nearest images')
    se.add_argument('--batch-size', type=int, default=32, help='images encoded per forward pass')
    se.add_argument('--device', default='cpu', help='where the model runs')
    return parser.parse_args(argv)


def main(argv=None):
    """Run ``eval`` (metrics on the config's test set) or ``search`` (nearest images of a query)."""
    args = parse_args(argv)
    with one_line_errors(cfg_options=args.cfg_options, config=args.config):
        if args.command == 'eval':
            return evaluate_retrieval(args.config, args.checkpoint, args.cfg_options, args.work_dir, args.pr_curve,
                                      args.force)
        os.makedirs(args.show_dir, exist_ok=True)
        picture = osp.join(args.show_dir, f'{osp.splitext(osp.basename(args.query))[0]}_nearest.png')
        return search_folder(args.config, args.checkpoint, args.query, args.folder, args.load_index,
                             args.save_index, args.topk, picture, args.batch_size, args.device, args.cfg_options,
                             args.force)


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
