"""The GPU suite's process supervision: rows run one after the other in a worker process under one deadline.

The parent process (which never imports torch) starts the worker, follows the events it appends to a JSON-lines
file (``env``, then ``start`` and ``end`` per row) and keeps the report: the JSON rewritten after every row.
Inside the worker, :class:`Alarm` stops a row at its budget (:class:`RowTimeout`); the parent kills the worker
when a row overruns its budget by ``GRACE_S`` or hangs, records the row as ``killed`` (or ``crashed`` when the
worker died in it) and starts a fresh worker on the rows still to run.
"""
import datetime
import json
import os
import os.path as osp
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Callable, List

GRACE_S = 20  # a row may overrun its budget by this much before the parent kills the worker
POLL_S = 0.5


class RowTimeout(Exception):
    """A row ran past its budget (raised by the SIGALRM handler inside the row)."""


class Alarm:
    """SIGALRM after ``seconds`` raises :class:`RowTimeout` in the running row. ``fired`` tells a timeout
    apart also where library code turned the exception into another (mmengine's config printing, say)."""

    def __init__(self, seconds: float):
        self.seconds, self.fired = seconds, False

    def _raise(self, signum, frame):
        self.fired = True
        raise RowTimeout()

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._raise)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc_info):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


def clipped(text: str, head: int = 1500, tail: int = 2500) -> str:
    """The start and the end of a long traceback."""
    return text if len(text) <= head + tail else f'{text[:head]}\n[...]\n{text[-tail:]}'


def emit(events: str, **event) -> None:
    """Append one event to the worker's JSON-lines file (the worker's side of the protocol)."""
    with open(events, 'a') as f:
        f.write(json.dumps(event, default=str) + '\n')


class Report:
    """The suite's JSON, rewritten after every row: ``header`` (what the run was), ``date``, ``budget_s``,
    ``env`` (from the worker), ``rows`` (one outcome per row, ``None`` until it ends) and ``wall_s``."""

    def __init__(self, path: str, header: dict, deadline: float, rows: list):
        self.path = path
        self.data = dict(header, date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                         budget_s=round(deadline - time.time(), 1), env={}, rows={row: None for row in rows})
        self.start = time.time()

    def set_row(self, name: str, outcome: dict) -> None:
        """Store a row's outcome and rewrite the file."""
        self.data['rows'][name] = outcome
        self.write()

    def write(self) -> None:
        """Write the JSON (through a temporary file, so a reader never sees half of it)."""
        self.data['wall_s'] = round(time.time() - self.start, 1)
        with open(self.path + '.partial', 'w') as f:
            json.dump(self.data, f, indent=2, default=str)
        os.replace(self.path + '.partial', self.path)


def log_tail(path: str, chars: int = 3000) -> str:
    """The end of the worker's log (for rows that died with it)."""
    try:
        with open(path, errors='replace') as f:
            return f.read()[-chars:]
    except OSError:
        return ''


def run_worker(command: List[str], cwd: str, env: dict, pending: list, report: Report, events: str, log,
               deadline: float) -> int:
    """Start one worker (``command``) on ``pending`` and follow its events until it ends or is killed; rows it
    finished leave ``pending``, a row it died in or overran is recorded and leaves it too. Returns how many
    rows left ``pending``."""
    before = len(pending)
    process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    seen, current, row_deadline = 0, None, deadline + GRACE_S
    while True:
        with open(events) as f:
            lines = f.read().splitlines()
        for line in lines[seen:]:
            event = json.loads(line)
            if event['event'] == 'env':
                report.data['env'] = event['env']
            elif event['event'] == 'start':
                current = event['row']
                row_deadline = event['time'] + event['budget_s'] + GRACE_S
                print(f'[gpu_suite] {current}: started, budget {event["budget_s"]:.0f} s', flush=True)
            elif event['event'] == 'end':
                outcome = event['outcome']
                report.set_row(event['row'], outcome)
                pending.remove(event['row'])
                print(f'[gpu_suite] {event["row"]}: {outcome["status"]} in {outcome.get("wall_s", 0):.1f} s',
                      flush=True)
                current = None
        seen = len(lines)
        if process.poll() is not None:
            if current is not None:  # it died inside a row
                report.set_row(current, dict(status='crashed', error=f'the worker exited with {process.returncode}'
                                             f' during the row; its log ends:\n{log_tail(log.name)}'))
                pending.remove(current)
            return before - len(pending)
        if time.time() > (row_deadline if current else deadline + GRACE_S):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if current is not None:
                report.set_row(current, dict(status='killed', error=f'the row overran its budget by {GRACE_S} s '
                                             'and the worker was killed'))
                pending.remove(current)
            return before - len(pending)
        time.sleep(POLL_S)


def supervise(worker_command: Callable[[list, str, str], List[str]], cwd: str, env: dict, pending: list,
              report: Report, deadline: float, log_path: str) -> None:
    """Run the ``pending`` rows until done or out of time, restarting the worker after a row killed it.

    ``worker_command(rows, events, scratch)`` is the command line of a worker that runs ``rows`` in turn,
    appends its events to ``events`` and keeps its files in ``scratch`` (a temporary folder shared by the
    workers of one run, removed at the end). The worker's output goes to ``log_path``; rows left when the
    deadline passes are recorded as ``skipped``."""
    scratch = tempfile.mkdtemp(prefix='gpu_suite_')
    events = osp.join(scratch, 'events.jsonl')
    try:
        with open(log_path, 'w') as log:
            while pending and time.time() < deadline:
                open(events, 'w').close()
                command = worker_command(list(pending), events, scratch)
                if not run_worker(command, cwd, env, pending, report, events, log, deadline) \
                        and time.time() < deadline:
                    # it ended without getting through a row (it could not start): no use restarting it
                    for row in list(pending):
                        report.set_row(row, dict(status='failed', error=f'the worker ended before the row:\n'
                                                                         f'{log_tail(log.name)}'))
                        pending.remove(row)
        for row in pending:
            report.set_row(row, dict(status='skipped', error='no time left before the deadline'))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
