"""Convert the official ISPRS Potsdam zips into mmseg's layout, with a crop stride that is honoured.

DATASET_PATH holds 2_Ortho_RGB.zip (or 4_Ortho_RGBIR.zip with --bands rgbir) and 5_Labels_all_noBoundary.zip
(or 5_Labels_all.zip with --labels all). Writes OUT_DIR/img_dir/{train,val}, OUT_DIR/ann_dir/{train,val}
(0 = ignore, 1..6 = classes, read with reduce_zero_label=True), OUT_DIR/unlabeled (crops for pre-training)
and OUT_DIR/potsdam_manifest.json (crop counts, per-band mean/std of the training tiles). The split is
mmseg's (24 train tiles, the rest val).

--clip-size 512 --stride 512 (the defaults) reproduce mmseg's converter, whose --stride_size is ignored:
144 crops per tile, 3456 train / 2016 val. --stride 256 gives overlapping crops (529 per tile), which mmseg
users get no matter what they ask for, so results are not comparable with its published numbers.
"""
import argparse
import os.path as osp

from rs_ssl_plugin.datasets.preparation.potsdam import convert_potsdam
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('dataset_path', help='folder holding the official zips')
    parser.add_argument('-o', '--out-dir', '--out_dir', default=osp.join('data', 'potsdam'),
                        help='output folder (default data/potsdam); must be new or empty unless --force')
    parser.add_argument('--bands', choices=['rgb', 'rgbir'], default='rgb',
                        help='rgb: 2_Ortho_RGB.zip -> PNG crops; rgbir: 4_Ortho_RGBIR.zip -> 4-band TIFF crops '
                        '(R, G, B, IR)')
    parser.add_argument('--labels', choices=['noBoundary', 'all'], default='noBoundary',
                        help='5_Labels_all_noBoundary.zip (boundaries ignored; mmseg\'s choice) or 5_Labels_all.zip')
    parser.add_argument('--clip-size', '--clip_size', type=int, default=512, help='crop size in pixels')
    parser.add_argument('--stride', '--stride-size', '--stride_size', type=int, default=512,
                        help='step between crops in pixels (default 512 = mmseg\'s actual crops)')
    parser.add_argument('--unlabeled-stride', type=int, help='step between unlabeled crops (default --stride)')
    parser.add_argument('--unlabeled-split', choices=['train', 'all', 'none'], default='train',
                        help='tiles cut into unlabeled/ (default: training tiles only)')
    parser.add_argument('--tiles', nargs='+', metavar='I_J', help='convert only these tiles, e.g. 2_10 6_15')
    parser.add_argument('--unlabeled-format', choices=['png', 'jpeg'], default='png',
                        help='format of the RGB crops in unlabeled/: png (lossless, default) or jpeg (about 2.5x '
                        'faster to decode in pre-training)')
    parser.add_argument('--jpeg-quality', type=int, default=95, help='JPEG quality 1-100 (default 95)')
    parser.add_argument('--force', action='store_true', help='replace a non-empty OUT_DIR')
    return parser.parse_args(argv)


def main(argv=None):
    """Convert the Potsdam zips with :func:`convert_potsdam` and print the crop counts and band statistics."""
    args = parse_args(argv)
    with one_line_errors():
        manifest = convert_potsdam(args.dataset_path, args.out_dir, bands=args.bands, labels=args.labels,
                                   clip_size=args.clip_size, stride=args.stride,
                                   unlabeled_stride=args.unlabeled_stride, unlabeled_split=args.unlabeled_split,
                                   tiles=args.tiles, force=args.force, unlabeled_format=args.unlabeled_format,
                                   jpeg_quality=args.jpeg_quality)
    crops, stats = manifest['crops'], manifest['train_band_statistics']
    print(f'{args.out_dir}: {crops["train"]} train, {crops["val"]} val, {crops["unlabeled"]} unlabeled crops '
          f'({len(manifest["tiles"]["train"])} + {len(manifest["tiles"]["val"])} tiles)')
    if stats:
        print(f'  per-band mean {stats["mean"]}, std {stats["std"]} ({"/".join(manifest["band_order"])}, '
              'training tiles; use them in the data preprocessor)')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
