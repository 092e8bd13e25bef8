"""The state of this process's global random generators (Python, numpy, torch, CUDA), in a form a
weights-only ``torch.load`` reads back (tuples, ints, floats and tensors only)."""
import random

import numpy as np
import torch


def capture_random_state() -> dict:
    """The states of ``random``, ``numpy.random``, ``torch`` and, once CUDA is in use, the current CUDA
    device's generator."""
    numpy_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(key=torch.from_numpy(numpy_state['state']['key'].astype(np.int64)),
                   pos=int(numpy_state['state']['pos']), has_gauss=int(numpy_state['has_gauss']),
                   gauss=float(numpy_state['gauss'])),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def restore_random_state(state: dict) -> None:
    """Set the generators to a state from :func:`capture_random_state`."""
    random.setstate(state['python'])
    numpy_state = state['numpy']
    np.random.set_state(dict(bit_generator='MT19937',
                             state=dict(key=numpy_state['key'].numpy().astype(np.uint32), pos=numpy_state['pos']),
                             has_gauss=numpy_state['has_gauss'], gauss=numpy_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])
