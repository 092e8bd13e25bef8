"""Generate the embedded synthetic Potsdam-like dataset in mmseg's converted layout, plus unlabeled scenes.

Writes OUT_DIR/img_dir/{train,val}, OUT_DIR/ann_dir/{train,val} (0 = ignore, 1..6 = classes, for
reduce_zero_label=True) and OUT_DIR/unlabeled. Re-running with the same parameters does nothing; an
OUT_DIR holding anything else is refused and left untouched.
"""
import argparse

from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('out_dir', metavar='OUT_DIR', help='output folder: new, empty, or made with the same options')
    parser.add_argument('--num-train', type=int, default=16, metavar='N', help='labelled training scenes')
    parser.add_argument('--num-val', type=int, default=4, metavar='N', help='labelled validation scenes')
    parser.add_argument('--num-unlabeled', type=int, default=32, metavar='N', help='unlabeled scenes')
    parser.add_argument('--size', type=int, default=256, metavar='PX', help='scene width and height in pixels')
    parser.add_argument('--seed', type=int, default=0, metavar='S', help='dataset seed')
    return parser.parse_args(argv)


def main(argv=None):
    """Generate (or reuse) the synthetic dataset and print where its parts are."""
    args = parse_args(argv)
    with one_line_errors():
        info = make_synthetic_potsdam(args.out_dir, num_train=args.num_train, num_val=args.num_val,
                                      num_unlabeled=args.num_unlabeled, size=args.size, seed=args.seed)
    print(f'{info["out_dir"]}: {info["num_train"]} train, {info["num_val"]} val and {info["num_unlabeled"]} '
          f'unlabeled scenes of {info["size"]} px (seed {info["seed"]})')
    print(f'  images      {info["img_dir"]}/{{train,val}}')
    print(f'  labels      {info["ann_dir"]}/{{train,val}}  (0 = ignore, 1..6 = {", ".join(info["classes"])})')
    print(f'  unlabeled   {info["unlabeled_dir"]}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
