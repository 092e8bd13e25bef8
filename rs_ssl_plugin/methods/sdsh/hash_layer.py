"""SDSH's hash layer, from the pooled token vector to the continuous hash code."""
from torch import nn


class HashLayer(nn.Sequential):
    """SDSH hash layer ``Linear(2C, 2C) -> GELU -> Linear(2C, hash_bits)``, shared by global and local views.

    Its output ``u`` is the continuous code (no tanh); the binary code is ``sign(u)``.
    """

    def __init__(self, in_dims: int, hash_bits: int):
        super().__init__(nn.Linear(in_dims, in_dims), nn.GELU(), nn.Linear(in_dims, hash_bits))
        self.hash_bits = hash_bits
