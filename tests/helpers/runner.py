"""Checks of what a Runner run learned: the weights at the start, the logged losses and validation metrics."""
import numpy as np
import torch
from mmengine.hooks import Hook


class StateAtStart(Hook):
    """The model's weights when training starts (after the Runner initialised them)."""

    def before_train(self, runner):
        self.state = {k: v.clone() for k, v in runner.model.state_dict().items()}


def assert_loss_falls(runner, iterations, margin=0.1, name='loss'):
    """The loss the Runner logged at every iteration: the last is below the first by ``margin``."""
    losses = runner.message_hub.get_scalar(f'train/{name}').data[0]
    assert len(losses) == iterations
    assert losses[-1] < losses[0] - margin, losses


def assert_trained(exported, initial, prefix='backbone.', unused=()):
    """Every floating-point tensor of the exported backbone moved away from its initial value, except those the
    loss does not reach (names starting with one of ``unused``), which kept it."""
    assert exported
    same = {k[len(prefix):] for k, v in exported.items()
            if v.is_floating_point() and torch.equal(v, initial[k[len(prefix):]])}
    assert same == {k for k in same if k.startswith(tuple(unused))} == {
        k for k, v in initial.items() if v.is_floating_point() and k.startswith(tuple(unused))}, same


def last_val_metrics(runner):
    """The metrics the Runner logged at its last validation (name -> value), without the timings."""
    return {k[len('val/'):]: v.current() for k, v in runner.message_hub.log_scalars.items()
            if k.startswith('val/') and k not in ('val/time', 'val/data_time')}


def assert_same_metrics(metrics, validated):
    """Every logged validation metric has the same value (NaN for NaN: a class absent from the data)."""
    assert validated and set(validated) <= set(metrics)
    np.testing.assert_equal({k: float(metrics[k]) for k in validated}, {k: float(v) for k, v in validated.items()})
