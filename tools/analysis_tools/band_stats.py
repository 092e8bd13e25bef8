r"""Per-band statistics for a config's data_preprocessor mean/std: mean, std, min, max and the 1st and 99th
percentiles of every band of a folder of images, or of the training images of a config.

    # GeoTIFFs (any band count, 8/16-bit or float), PNGs, JPEGs: every file under the folder; bands 1-4 only
    python tools/analysis_tools/band_stats.py data/scenes/ --bands 1 2 3 4
    # 12-bit scenes for a pipeline whose image loader has value_range=(0, 4095): statistics of the 0..255 values
    python tools/analysis_tools/band_stats.py data/scenes/ --value-range 0 4095
    # the images the train_dataloader's dataset of a config lists, in the values its image loader gives them
    python tools/analysis_tools/band_stats.py configs/false_r50_potsdam-rgbir.py

Scenes are read window by window (--window-size squares): every window of a scene that has at most
--windows-per-scene, else that many drawn with --seed, so large scenes need not fit in memory and small inputs
are counted exactly. NaN, the file's nodata value (in every band) and alpha 0 are left out. Prints a table and
the mean/std lines to paste into the config's data_preprocessor, with their band order and scale: 0-255 for
8-bit files and for a loader with value_range, else the file's units (16-bit data loaded with
color_type='unchanged'); docs/input_pipeline.md, "Band statistics". Writes <work-dir>/band_stats.json; an
existing one is never overwritten without --force.
"""
import argparse
import json
import os.path as osp

from mmengine.config import DictAction
from mmengine.utils import ProgressBar

from rs_ssl_plugin.datasets.band_stats import (
    band_statistics,
    config_training_images,
    preprocessor_lines,
    statistics_table,
)
from rs_ssl_plugin.datasets.checks import collect_image_files
from rs_ssl_plugin.datasets.unlabeled import IMAGE_EXTENSIONS
from rs_ssl_plugin.evaluation.features import load_config
from rs_ssl_plugin.utils.entry_points import (
    USER_ERRORS,
    ToolHelpFormatter,
    one_line_errors,
    silence_pkg_resources_warning,
)
from rs_ssl_plugin.utils.work_dir import write_atomically


def parse_args(argv=None):
    """The command-line options (``argv``: a list, default ``sys.argv``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ToolHelpFormatter)
    parser.add_argument('inputs', nargs='+', help='image files and/or folders of images, or one config (a .py file '
                        'or a package path such as mmseg::...) whose train_dataloader dataset lists the images')
    parser.add_argument('--bands', type=int, nargs='+', help='1-based band numbers to report (default: every band '
                        'but alpha); folder inputs only: a config loads every band')
    parser.add_argument('--value-range', type=float, nargs='+', metavar='LOW HIGH',
                        help='the image loader\'s value_range: one LOW HIGH pair for all bands or one per band; the '
                        'values are mapped to 0..255 as the loader maps them (default: the file\'s values); folder '
                        'inputs only: a config\'s loader says it')
    parser.add_argument('--window-size', type=int, default=256, help='side of the square windows read, in pixels')
    parser.add_argument('--windows-per-scene', type=int, default=16,
                        help='windows drawn from a scene that has more; a scene with fewer is read whole')
    parser.add_argument('--percentile-pixels', type=int, default=1_000_000,
                        help='pixels the percentiles are computed on: all pixels read while there are no more, '
                        'else a uniform random subset (memory: 8 bytes per pixel and band)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the windows and the percentile subset')
    parser.add_argument('--work-dir', help='where band_stats.json goes (default: work_dirs/band_stats/<config or '
                        'first input name>)')
    parser.add_argument('--force', action='store_true', help='overwrite an existing band_stats.json')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. key=value or key="[a,b]"')
    return parser.parse_args(argv)


def value_range_pairs(numbers):
    """``--value-range`` as one ``(low, high)`` pair or a list of pairs; ``None`` when not given."""
    if numbers is None:
        return None
    if len(numbers) % 2:
        raise ValueError(f'--value-range takes LOW HIGH pairs, got {len(numbers)} number(s)')
    pairs = [tuple(numbers[i:i + 2]) for i in range(0, len(numbers), 2)]
    return pairs[0] if len(pairs) == 1 else pairs


def main(argv=None):
    """Compute the statistics, print the table and the lines to paste, write the JSON; returns the report."""
    args = parse_args(argv)
    config = args.inputs[0] if any(i.endswith('.py') or '::' in i for i in args.inputs) else None
    name = osp.splitext(osp.basename(osp.normpath(args.inputs[0])))[0]
    out = osp.join(args.work_dir or osp.join('work_dirs', 'band_stats', name), 'band_stats.json')
    with one_line_errors((*USER_ERRORS, OSError), work_dir=osp.dirname(out), cfg_options=args.cfg_options,
                         config=config):
        if osp.exists(out) and not args.force:  # fail before the work, not after it
            raise FileExistsError(f'{out} exists; nothing was overwritten (pass --force to replace it)')
        if config is not None:
            if len(args.inputs) > 1:
                raise ValueError(f'give one config or image files and folders, not both: {" ".join(args.inputs)}')
            for option in ('bands', 'value_range'):
                if getattr(args, option) is not None:
                    raise ValueError(f'--{option.replace("_", "-")} applies to image inputs only: the config\'s '
                                     'image loader decides the bands and values')
            images = config_training_images(load_config(config, args.cfg_options), config)
            paths, flips_to_rgb = images.paths, images.flips_to_rgb
            loading = dict(value_range=images.value_range, unchanged=images.unchanged)
        else:
            if args.cfg_options:
                raise ValueError('--cfg-options applies to a config input only')
            paths, flips_to_rgb = collect_image_files(args.inputs, IMAGE_EXTENSIONS), None
            loading = dict(value_range=value_range_pairs(args.value_range))
        print(f'{len(paths)} image(s) from {" ".join(args.inputs)}')
        bar = ProgressBar(len(paths))
        try:
            stats = band_statistics(paths, args.bands, window_size=args.window_size,
                                    windows_per_scene=args.windows_per_scene,
                                    percentile_pixels=args.percentile_pixels, seed=args.seed, progress=bar.update,
                                    **loading)
        finally:
            print()  # ends the progress bar's line, also before an error message
        report = dict(source=config or args.inputs, **stats)
        write_atomically(out, json.dumps(report, indent=2) + '\n')
    print(statistics_table(stats))
    print(preprocessor_lines(stats, flips_to_rgb))
    print(f'wrote {out}')
    return report


if __name__ == '__main__':
    silence_pkg_resources_warning()
    main()
