"""Write nested, seeded label-fraction subsets (default 1, 5, 10 and 100 %) of a training set, for few-shot
transfer experiments.

SOURCE is a list file (any line format: mmseg ann_file stems, "<image> <mask>" pairs from split_dataset.py)
or an image folder, whose images are listed as mmseg ann_file stems (relative path without extension, e.g.
img_dir/train of a converted Potsdam dataset). Writes OUT_DIR/<prefix>_<p>pct.txt; pass it as the training
dataset's ann_file. Smaller fractions are subsets of larger ones and the same SOURCE and seed always give
the same files.
"""
import argparse

from rs_ssl_plugin.datasets.preparation.splits import (
    label_fraction_subsets,
    percent_name,
    read_samples,
    write_list_files,
)
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('source', help='list file or image folder of the full training set')
    parser.add_argument('out_dir', help='folder for the subset list files')
    parser.add_argument('--percents', nargs='+', type=float, default=[1, 5, 10, 100], help='label fractions in %%')
    parser.add_argument('--seed', type=int, default=0, help='sampling seed (default 0)')
    parser.add_argument('--prefix', default='train', help='file name prefix (default train)')
    parser.add_argument('--force', action='store_true', help='replace existing list files')
    return parser.parse_args(argv)


def main(argv=None):
    """Write one list file per label fraction and print the subset sizes."""
    args = parse_args(argv)
    with one_line_errors():
        samples = read_samples(args.source)
        subsets = label_fraction_subsets(samples, args.percents, args.seed)
        paths = write_list_files({f'{args.prefix}_{percent_name(p)}': s for p, s in subsets.items()}, args.out_dir,
                                 args.force)
    for (percent, subset), path in zip(subsets.items(), paths):
        print(f'{percent:g}%: {len(subset)} of {len(samples)} samples -> {path}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
