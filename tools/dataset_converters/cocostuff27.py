"""Lay out COCO-Stuff-27 (PiCIE's curated splits) for CocoStuff27Dataset, checking that nothing is missing.

Inputs: the COCO-2017 images (IMAGES/{train2017,val2017}/<id>.jpg), COCO-Stuff's stuffthingmaps_trainval2017
(LABELS/{train2017,val2017}/<id>.png, fine labels 0..181 and 255) and PiCIE's curated lists
(CURATED/{train2017,val2017}/Coco164kFull_Stuff_Coarse_7.txt; 49,629 train and 2,175 val ids). Writes

    OUT_DIR/images/{train2017,val2017}/<id>.jpg        links to (or with --copy, copies of) the listed images
    OUT_DIR/annotations/{train2017,val2017}/<id>.png   the same for their label maps
    OUT_DIR/curated/{train2017,val2017}/Coco164kFull_Stuff_Coarse_7.txt

which is the layout the official IDDC code reads; the dataset maps the fine labels to the 27 classes.
Nothing is overwritten unless --force.
"""
import argparse

from rs_ssl_plugin.methods.iddc.preparation import layout_cocostuff27
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('images', help='COCO-2017 image folder holding train2017/ and val2017/')
    parser.add_argument('labels', help='stuffthingmaps_trainval2017 folder holding train2017/ and val2017/')
    parser.add_argument('curated', help='PiCIE curated folder holding train2017/ and val2017/ lists')
    parser.add_argument('out_dir', help='output folder (e.g. data/cocostuff)')
    parser.add_argument('--copy', action='store_true', help='copy the files instead of linking them')
    parser.add_argument('--force', action='store_true', help='replace files that already exist in OUT_DIR')
    return parser.parse_args(argv)


def main(argv=None):
    """Lay out COCO-Stuff-27 with :func:`layout_cocostuff27` and print the images per split."""
    args = parse_args(argv)
    with one_line_errors():
        counts = layout_cocostuff27(args.images, args.labels, args.curated, args.out_dir, args.copy, args.force)
    for split, count in counts.items():
        print(f'{split}: {count} images')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
