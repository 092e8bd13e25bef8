"""Training-loop parts shared by the methods: schedulers' base, checkpoint hooks, random-generator states."""
from .hooks import CheckpointFitHook, ResumableCheckpointHook
from .progress_curve import ProgressCurveLR
from .random_state import capture_random_state, restore_random_state

__all__ = ['CheckpointFitHook', 'ProgressCurveLR', 'ResumableCheckpointHook', 'capture_random_state',
           'restore_random_state']
