"""Convert the unsupervised-segmentation Potsdam benchmark (IIC's crops, as distributed with STEGO's
potsdam.zip) into mmseg's Potsdam layout, for Potsdam3Dataset (Potsdam-3) or CheckedPotsdamDataset (Potsdam-6).

SRC holds imgs/<id>.mat ('img': HxWx4 R, G, B, IR), gt/<id>.mat ('gt': HxW, 0 impervious surfaces / roads,
1 building, 2 low vegetation, 3 tree, 4 car, 5 clutter; anything else unlabelled) and the split lists
labelled_train.txt, labelled_test.txt and unlabelled_train.txt. Writes

    OUT_DIR/img_dir/{train,val,unlabelled}/<id>.png   RGB (the IR band is dropped, as in STEGO)
    OUT_DIR/ann_dir/{train,val,unlabelled}/<id>.png   mmseg's coding: 0 = ignore, k = class k - 1

from labelled_train (train), labelled_test (val) and unlabelled_train (unlabelled; labels where present).
Nothing is overwritten unless --force.
"""
import argparse

from rs_ssl_plugin.methods.iddc.preparation import convert_iic_potsdam
from rs_ssl_plugin.utils.entry_points import ToolHelpFormatter, one_line_errors, silence_pkg_resources_warning


def parse_args(argv=None):
    """Command-line arguments (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('src', help='folder of the IIC/STEGO Potsdam benchmark (imgs/, gt/, split lists)')
    parser.add_argument('out_dir', help='output folder; must be new or empty unless --force')
    parser.add_argument('--force', action='store_true', help='write into a non-empty OUT_DIR')
    return parser.parse_args(argv)


def main(argv=None):
    """Convert the IIC Potsdam crops with :func:`convert_iic_potsdam` and print the counts per split."""
    args = parse_args(argv)
    with one_line_errors():
        counts = convert_iic_potsdam(args.src, args.out_dir, args.force)
    for split, count in counts.items():
        print(f'{split}: {count["images"]} images, {count["labels"]} labels')


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
