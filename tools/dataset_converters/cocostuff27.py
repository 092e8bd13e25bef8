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
import os
import os.path as osp
import shutil
import sys

SPLITS = ('train2017', 'val2017')
LIST_NAME = 'Coco164kFull_Stuff_Coarse_7.txt'


def place(src: str, dst: str, copy: bool, force: bool) -> None:
    if osp.lexists(dst):
        if not force:
            raise FileExistsError(f'{dst} already exists; pass --force to replace it')
        os.remove(dst)
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(osp.abspath(src), dst)


def layout_cocostuff27(images: str, labels: str, curated: str, out_dir: str, copy: bool = False,
                       force: bool = False) -> dict:
    """Check every listed image and label map exists, then link or copy them; returns ids per split."""
    plan = {}
    for split in SPLITS:
        list_path = osp.join(curated, split, LIST_NAME)
        if not osp.isfile(list_path):
            raise FileNotFoundError(f'curated list {list_path} does not exist')
        with open(list_path) as f:
            ids = [line.strip() for line in f if line.strip()]
        pairs = [(osp.join(images, split, f'{i}.jpg'), osp.join(labels, split, f'{i}.png')) for i in ids]
        missing = [p for pair in pairs for p in pair if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'{len(missing)} files listed in {list_path} are missing, e.g. {missing[:3]}')
        plan[split] = (list_path, ids, pairs)
    for split, (list_path, ids, pairs) in plan.items():
        for folder in ('images', 'annotations', 'curated'):
            os.makedirs(osp.join(out_dir, folder, split), exist_ok=True)
        place(list_path, osp.join(out_dir, 'curated', split, LIST_NAME), copy=True, force=force)
        for image_id, (image, label) in zip(ids, pairs):
            place(image, osp.join(out_dir, 'images', split, f'{image_id}.jpg'), copy, force)
            place(label, osp.join(out_dir, 'annotations', split, f'{image_id}.png'), copy, force)
    return {split: len(ids) for split, (_, ids, _) in plan.items()}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('images', help='COCO-2017 image folder holding train2017/ and val2017/')
    parser.add_argument('labels', help='stuffthingmaps_trainval2017 folder holding train2017/ and val2017/')
    parser.add_argument('curated', help='PiCIE curated folder holding train2017/ and val2017/ lists')
    parser.add_argument('out_dir', help='output folder (e.g. data/cocostuff)')
    parser.add_argument('--copy', action='store_true', help='copy the files instead of linking them')
    parser.add_argument('--force', action='store_true', help='replace files that already exist in OUT_DIR')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        counts = layout_cocostuff27(args.images, args.labels, args.curated, args.out_dir, args.copy, args.force)
    except (FileNotFoundError, FileExistsError) as error:
        sys.exit(f'error: {error}')
    for split, count in counts.items():
        print(f'{split}: {count} images')


if __name__ == '__main__':
    main()
