"""Metrics registered into mmseg's and mmpretrain's METRICS registries."""
