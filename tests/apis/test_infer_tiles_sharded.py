"""An archive through tools/infer_tiles.py in several processes (tools/infer_tiles.sh, gloo on the CPU), its
resume rule and its summary (rs_ssl_plugin.apis.archive)."""
import json
import os
import subprocess
import sys

import cv2
import pytest
import torch
from test_infer_tiles import rgb_scene, run_tool, tiny_upernet, write_geotiff, write_model_files

from helpers.distributed import free_port
from helpers.tools import REPO, load_tool
from rs_ssl_plugin.apis.archive import ArchivePlan, SceneJob, balanced_shards

OUTPUT_KINDS = ('classes.tif', 'color.png', 'legend.png', 'inference.json')


@pytest.fixture(scope='module')
def tool():
    return load_tool('infer_tiles')


@pytest.fixture(scope='module')
def model():
    return tiny_upernet()


@pytest.fixture(scope='module')
def model_files(model, tmp_path_factory):
    return write_model_files(model, tmp_path_factory.mktemp('model'))


def folder_bytes(folder):
    """``{name: bytes}`` of every file in ``folder``."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_shards_are_disjoint_cover_every_scene_and_spread_the_big_ones():
    pixels = [9000, 100, 8000, 200, 7000, 300, 6000, 400, 50]
    shards = balanced_shards(pixels, 3)
    assert shards == balanced_shards(pixels, 3)  # deterministic
    assert sorted(i for shard in shards for i in shard) == list(range(len(pixels)))  # disjoint and complete
    assert all(shard == sorted(shard) for shard in shards)
    loads = [sum(pixels[i] for i in shard) for shard in shards]
    assert max(loads) - min(loads) <= max(pixels)
    big = [sum(pixels[i] >= 6000 for i in shard) for shard in balanced_shards(pixels, 2)]
    assert big == [2, 2]  # not all the big scenes on one process
    assert balanced_shards([5, 3], 4) == [[0], [1], [], []]  # more processes than scenes

    jobs = [(SceneJob(f'scene_{i}.tif', 'out'), (size // 100, 100)) for i, size in enumerate(pixels)]
    plan = ArchivePlan(jobs, skipped=[], failed=[])
    shares = [plan.share(rank, 3) for rank in range(3)]
    assert sorted(job.scene for share in shares for job, _ in share) == sorted(job.scene for job, _ in jobs)


def test_two_cpu_processes_write_what_one_writes_and_report_failed_scenes(tool, model_files, tmp_path):
    """tools/infer_tiles.sh with 2 processes on the CPU: the scenes are shared by pixel count (a and d on rank 0,
    b and c on rank 1), the outputs and records are byte-equal to a single process's, and the scenes that fail
    (corrupt.png cannot be opened; b.tif is truncated and fails on rank 1) are reported by rank 0 with their
    reasons while the others complete; the exit status is 1."""
    archive = tmp_path / 'archive'
    archive.mkdir()
    write_geotiff(archive / 'a.tif', rgb_scene(160, 160, seed=1))
    write_geotiff(archive / 'b.tif', rgb_scene(150, 150, seed=2), tiled=True, blockxsize=64, blockysize=64,
                  compress='deflate')
    data = (archive / 'b.tif').read_bytes()
    (archive / 'b.tif').write_bytes(data[:len(data) // 2])  # header intact, pixel data cut off
    cv2.imwrite(str(archive / 'c.png'), rgb_scene(100, 120, seed=3).transpose(1, 2, 0))
    write_geotiff(archive / 'd.tif', rgb_scene(90, 110, seed=4))
    (archive / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n not really a png')

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process: the same kernels, so the same rounding
    try:
        with pytest.raises(SystemExit, match=r'2 of 5 scene\(s\) failed'):
            run_tool(tool, model_files, archive, '--out-dir', tmp_path / 'one')
    finally:
        torch.set_num_threads(threads)

    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1')
    command = ['tools/infer_tiles.sh', *model_files, archive, '2', '--out-dir', tmp_path / 'two', '--device', 'cpu',
               '--batch-size', '5']
    result = subprocess.run(list(map(str, command)), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert '3 scene(s) segmented, 0 skipped' in result.stdout
    assert f'error: 2 of 5 scene(s) failed:\n  {archive}/b.tif: cannot read rows' in result.stderr
    assert f'  {archive}/corrupt.png: cannot read scene {archive}/corrupt.png' in result.stderr
    assert f'rank 0: 1/2 {archive}/a.tif' in result.stdout and f'rank 0: 2/2 {archive}/d.tif' in result.stdout
    assert f'rank 1: 1/2 {archive}/b.tif' in result.stdout and f'rank 1: 2/2 {archive}/c.png' in result.stdout
    assert f'rank 1: failed: {archive}/b.tif' in result.stdout

    one, two = folder_bytes(tmp_path / 'one'), folder_bytes(tmp_path / 'two')
    assert sorted(two) == sorted(f'{stem}_{kind}' for stem in 'acd' for kind in OUTPUT_KINDS)  # nothing partial
    assert two == one


def scene_files(out, stem):
    return [out / f'{stem}_{kind}' for kind in OUTPUT_KINDS]


def test_a_rerun_skips_complete_scenes_and_redoes_unfinished_ones(tool, model_files, tmp_path, capsys):
    for stem, seed in (('a', 5), ('b', 6), ('c', 7)):
        write_geotiff(tmp_path / f'{stem}.tif', rgb_scene(70, 90, seed=seed))
    scenes = [tmp_path / f'{stem}.tif' for stem in 'abc']
    out = tmp_path / 'out'
    run_tool(tool, model_files, *scenes, '--out-dir', out)
    first = folder_bytes(out)
    assert json.loads(first['a_inference.json'])['state'] == 'complete'

    for path in scene_files(out, 'a'):  # a is complete: its files must not be written again
        os.utime(path, ns=(946684800 * 10**9, 946684800 * 10**9))
    # b: stopped after renaming its GeoTIFF and PNG, before the legend
    record = json.loads(first['b_inference.json'])
    del record['outputs']
    (out / 'b_inference.json').write_text(json.dumps(dict(record, state='started')))
    (out / 'b_legend.png').unlink()
    # c: stopped before renaming anything (as in a first run): only temporary files, no record
    for path in scene_files(out, 'c'):
        path.unlink()
    (out / 'c_classes.partial.tif').write_bytes(b'half a GeoTIFF')
    (out / 'c_color.partial.png').write_bytes(b'half a PNG')

    capsys.readouterr()
    run_tool(tool, model_files, *scenes, '--out-dir', out)
    printed = capsys.readouterr().out
    assert '2 scene(s) segmented, 1 skipped' in printed and f'{tmp_path}/a.tif ->' not in printed
    assert all(path.stat().st_mtime_ns == 946684800 * 10**9 for path in scene_files(out, 'a'))
    assert folder_bytes(out) == first  # b and c redone as they were, the temporary files replaced

    capsys.readouterr()
    run_tool(tool, model_files, *scenes, '--out-dir', out)
    assert '0 scene(s) segmented, 3 skipped' in capsys.readouterr().out


def test_outputs_of_another_checkpoint_are_refused_until_forced(model, tool, model_files, tmp_path, capsys):
    """A re-run with other weights does not skip the scene as done, nor overwrite it silently."""
    write_geotiff(tmp_path / 'scene.tif', rgb_scene(70, 90, seed=8))
    out = tmp_path / 'out'
    run_tool(tool, model_files, tmp_path / 'scene.tif', '--out-dir', out)
    first = folder_bytes(out)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    state['decode_head.conv_seg.bias'] += 1
    retrained = tmp_path / 'retrained.pth'
    torch.save(dict(state_dict=state, meta=torch.load(model_files[1], weights_only=True)['meta']), retrained)
    with pytest.raises(SystemExit, match=r'scene_classes.tif was written by another run \(weights_sha256 differ; '
                                         r'see .*scene_inference.json\); pass --force to overwrite it'):
        run_tool(tool, (model_files[0], str(retrained)), tmp_path / 'scene.tif', '--out-dir', out)
    assert folder_bytes(out) == first

    run_tool(tool, (model_files[0], str(retrained)), tmp_path / 'scene.tif', '--out-dir', out, '--force')
    forced = json.loads((out / 'scene_inference.json').read_text())
    assert forced['run']['weights_sha256'] != json.loads(first['scene_inference.json'])['run']['weights_sha256']
    capsys.readouterr()
    run_tool(tool, (model_files[0], str(retrained)), tmp_path / 'scene.tif', '--out-dir', out)
    assert '0 scene(s) segmented, 1 skipped' in capsys.readouterr().out
