"""Capture of what a logger logged, for tests of the messages hooks and tools write."""
import logging


class LogRecords(logging.Handler):
    """Keeps every record logged through it (add it to a logger with ``addHandler``): ``records`` holds
    ``(level name, message)`` pairs, ``messages`` the messages alone (mmengine writes log files and the
    console on rank 0 only, so this sees what each rank logs)."""

    def __init__(self, level: int = logging.NOTSET):
        super().__init__(level)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))

    @property
    def messages(self):
        return [message for _, message in self.records]
