"""Split an image/mask dataset (e.g. the Shaanxi buildings) into seeded train/val/test list files.

Images under DATA_ROOT/IMG_DIR are paired with masks under DATA_ROOT/MASK_DIR by relative path without
extension (images .tif/.tiff/.png/.jpg, masks .png/.tif/.tiff). Each line of OUT_DIR/<split>.txt is
"<image> <mask>" relative to DATA_ROOT, which ShaanxiBuildingsDataset reads as its ann_file. Nothing is
copied. The same files, ratios and seed always give the same split.
"""
import argparse
import os.path as osp

from rs_ssl_plugin.datasets.preparation.splits import image_mask_lines, split_samples, write_list_files
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('data_root', help='dataset root')
    parser.add_argument('--img-dir', default='images', help='image folder under DATA_ROOT (default images)')
    parser.add_argument('--mask-dir', default='masks', help='mask folder under DATA_ROOT (default masks)')
    parser.add_argument('--ratios', nargs=3, type=float, default=[0.6, 0.2, 0.2], metavar=('TRAIN', 'VAL', 'TEST'),
                        help='split proportions (default 0.6 0.2 0.2; a 0 leaves that split empty)')
    parser.add_argument('--seed', type=int, default=0, help='shuffle seed (default 0)')
    parser.add_argument('--out-dir', help='where the list files go (default DATA_ROOT/splits)')
    parser.add_argument('--force', action='store_true', help='replace existing list files')
    return parser.parse_args(argv)


def main(argv=None):
    """Pair images with masks, split them with the seed and write the non-empty split lists."""
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(args.data_root, 'splits')
    with one_line_errors():
        lines = image_mask_lines(args.data_root, args.img_dir, args.mask_dir)
        splits = split_samples(lines, dict(zip(('train', 'val', 'test'), args.ratios)), args.seed)
        paths = write_list_files({name: split for name, split in splits.items() if split}, out_dir, args.force)
    print(f'{len(lines)} image/mask pairs: ' + ', '.join(f'{len(s)} {n}' for n, s in splits.items()))
    for path in paths:
        print(f'  {path}')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
