"""The GPU suite's dry run (every row on the CPU with tiny presets, through the same worker and time-boxing as
on a GPU), its report, and the row time-boxing."""
import importlib
import json
import os.path as osp
import time

import pytest

from helpers.tools import load_bench


@pytest.fixture(scope='module')
def suite():
    return load_bench('gpu_suite/gpu_suite')


@pytest.fixture(scope='module')
def supervisor(suite):
    return importlib.import_module('supervisor')


@pytest.fixture(scope='module')
def dry_run(suite, tmp_path_factory):
    """One dry run (its budget generous for a busy machine: the rows end long before it)."""
    out = tmp_path_factory.mktemp('gpu_suite')
    data = suite.main(['--dry-run', '--out-dir', str(out), '--budget', '400'])
    return out, data


EXPECTED_WRAPPERS = dict(train_false=('MixedPrecisionOptimWrapper', 'bfloat16'),  # --amp-dtype bfloat16
                         train_sdcluster=('MixedPrecisionOptimWrapper', 'bfloat16'),  # released AMP, CPU dtype
                         train_sdsh=('SDSHAmpOptimWrapper', 'bfloat16'),
                         train_iddc=('OptimWrapper', 'float32'))


def test_dry_run_runs_every_row_and_writes_the_json(suite, supervisor, dry_run):
    out, data = dry_run
    with open(out / 'gpu_suite.json') as f:
        assert json.load(f) == json.loads(json.dumps(data, default=str))
    assert list(data['rows']) == [row for row, _ in suite.ROWS]
    assert data['dry_run'] and data['env']['device'] == 'cpu' and data['env']['torch']
    assert data['command'] == f'python bench/gpu_suite/gpu_suite.py --dry-run --out-dir {out} --budget 400'
    assert data['wall_s'] <= data['budget_s'] + supervisor.GRACE_S
    for row, outcome in data['rows'].items():
        assert outcome['budget_s'] > 0 and outcome['wall_s'] <= outcome['budget_s'] + 1, row
        expected = 'not available' if row == 'cuda_tests' else 'ok'
        assert outcome['status'] == expected, (row, outcome.get('error'))

    for row, (wrapper, precision) in EXPECTED_WRAPPERS.items():
        result = data['rows'][row]['result']
        assert (result['optim_wrapper'], result['precision']) == (wrapper, precision), row
        assert len(result['losses']) == result['iterations'] == 3 and result['finite'], row
        assert result['img_per_s'] > 0 and isinstance(result['falling'], bool)
    assert data['rows']['data']['result']['unlabeled'] == 8
    rows = data['rows']
    assert rows['bench_false']['result']['loss']['abs_diff'] < 1e-4
    assert rows['bench_false']['result']['step']['mmpretrain_simclr_img_per_s'] > 0
    assert rows['bench_sdcluster']['result']['step']['step_over_floor'] > 0
    assert rows['bench_sdsh']['result']['overhead'] > 0
    tiles = rows['bench_infer_tiles']['result']
    assert tiles['uniform_pixel_agreement_pct'] == 100 and tiles['uniform_max_logit_diff'] < 1e-3  # fp32
    loader = rows['input_pipeline']['result']['false']
    assert loader['batch'] == 2 and loader['images'] == 8 and loader['loader_over_in_memory'] > 0
    assert osp.getsize(out / 'gpu_suite_worker.log') > 0


def test_report_tables_and_target_checks(dry_run, tmp_path):
    out, data = dry_run
    report = load_bench('gpu_suite/gpu_suite_report')
    checks = {c['name']: c for c in report.target_checks(data)}
    assert checks['SDCluster img/s']['measured'] == data['rows']['bench_sdcluster']['result']['step'][
        'sdcluster_img_per_s']
    assert checks['SDCluster img/s']['met'] is False  # a tiny CPU step is far from 300 img/s
    assert checks['infer_tiles pixel agreement with stock (uniform blending), %']['met'] is True
    not_in_dry_run = {f'{method} {part} / in-memory step' for method in ('SDCluster', 'SDSH')
                      for part in ('loader-fed step', 'device stage')}
    assert all((c['measured'] is None) == (name in not_in_dry_run) for name, c in checks.items())
    text = report.main([str(out / 'gpu_suite.json'), '--out', str(tmp_path / 'report.md')])
    assert (tmp_path / 'report.md').read_text() == text
    assert 'DRY RUN' in text and data['command'] in text
    for heading in ('### Training on CUDA', '### Benchmarks against the targets', '### Rows'):
        assert heading in text
    for line in ('| FALSE | false_r50_potsdam.py | MixedPrecisionOptimWrapper | bfloat16 | 2 | 3/3 |',
                 '| IDDC | iddc_vit-s16_potsdam3.py | OptimWrapper | float32 | 3 | 3/3 |',
                 '| >= 300 | **no** |', '| FALSE device stage (batched augmentation) |'):
        assert line in text, line


def test_report_names_rows_that_did_not_run(tmp_path):
    report = load_bench('gpu_suite/gpu_suite_report')
    data = dict(suite='rs_ssl_plugin GPU suite', command='python bench/gpu_suite/gpu_suite.py', dry_run=False,
                date='2026-12-01T00:00:00+00:00', budget_s=300, wall_s=12, env=dict(device='NVIDIA H200'),
                rows=dict(bench_sdcluster=dict(status='killed', error='overran', wall_s=80, budget_s=60),
                          train_sdsh=dict(status='timeout', result=dict(losses=[1.0, 0.9], iterations=30))))
    text = report.render(data)
    assert '| SDCluster step | not measured (killed) |' in text
    assert '| SDSH | - | - | - | - | 2/30 | 2 recorded |' in text
    assert {c['name']: c['met'] for c in report.target_checks(data)}['SDCluster img/s'] is None
    (tmp_path / 'other.json').write_text('{"rows": {}}')
    with pytest.raises(SystemExit, match='not a GPU suite JSON'):
        report.main([str(tmp_path / 'other.json')])


def test_rows_are_time_boxed_and_fail_soft(suite, supervisor, tmp_path, monkeypatch):
    cpu = suite.Suite(dry_run=True, scratch=str(tmp_path))

    def slow(_suite, record):
        record['partial'] = 1
        time.sleep(30)

    def converts_the_timeout(_suite, record):
        try:
            time.sleep(30)
        except supervisor.RowTimeout as error:  # as mmengine's config printing does with any exception
            raise SyntaxError('could not format the config') from error

    def broken(_suite, record):
        raise ValueError('bad row')

    monkeypatch.setitem(suite.ROW_FUNCTIONS, 'slow', slow)
    monkeypatch.setitem(suite.ROW_FUNCTIONS, 'converts', converts_the_timeout)
    monkeypatch.setitem(suite.ROW_FUNCTIONS, 'broken', broken)
    start = time.time()
    outcome = suite.run_row(cpu, 'slow', 1.0)
    assert outcome['status'] == 'timeout' and outcome['result'] == dict(partial=1)
    assert suite.run_row(cpu, 'converts', 1.0)['status'] == 'timeout'
    assert time.time() - start < 10
    outcome = suite.run_row(cpu, 'broken', 5.0)
    assert outcome['status'] == 'failed' and 'ValueError: bad row' in outcome['error']
    # shares of the time left: by weight on the GPU, equal in the dry run, at least MIN_BUDGET_S
    deadline = time.time() + 100
    gpu = suite.row_budget('bench_infer_tiles', ['bench_infer_tiles', 'data'], deadline, dry_run=False)
    assert gpu == pytest.approx(100 * suite.WEIGHTS['bench_infer_tiles'] /
                                (suite.WEIGHTS['bench_infer_tiles'] + suite.WEIGHTS['data']), abs=0.5)
    assert suite.row_budget('data', ['data', 'bench_false'], deadline, dry_run=True) == pytest.approx(50, abs=0.5)
    assert suite.row_budget('data', ['data'] + [r for r, _ in suite.ROWS], time.time() + 10, False) == \
        pytest.approx(suite.MIN_BUDGET_S)
