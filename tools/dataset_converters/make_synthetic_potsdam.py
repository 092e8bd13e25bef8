"""Generate the embedded synthetic Potsdam-like dataset in mmseg's converted layout (+ unlabeled crops)."""
import argparse
import os.path as osp
import sys

# importable from a plain checkout too
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from rs_ssl_plugin.datasets.synthetic import make_synthetic_potsdam  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('out_dir', help='output folder (must be new or hold the same synthetic dataset)')
    parser.add_argument('--num-train', type=int, default=16)
    parser.add_argument('--num-val', type=int, default=4)
    parser.add_argument('--num-unlabeled', type=int, default=32)
    parser.add_argument('--size', type=int, default=256, help='scene size in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    info = make_synthetic_potsdam(args.out_dir, args.num_train, args.num_val, args.num_unlabeled, args.size,
                                  args.seed)
    print(f'{info["out_dir"]}: {info["num_train"]} train, {info["num_val"]} val, {info["num_unlabeled"]} '
          f'unlabeled scenes of {info["size"]} px; classes {", ".join(info["classes"])}')


if __name__ == '__main__':
    main()
