# SDSH on UC Merced with 16-bit codes; everything else as in sdsh_vit-s14_ucmd-64bit.py.
_base_ = ['./sdsh_vit-s14_ucmd-64bit.py']

model = dict(backbone=dict(hash_bits=16))
