from .false_loss import false_loss, positive_index, select_false_negatives
from .iddc_loss import (iddc_loss, negative_loss, positive_loss, sample_negative_shifts,
                        weibull_balance_loss)
from .sdcluster_loss import (align_to_overlap, filtered_slot_contrastive_loss, pixel_distillation_loss,
                             prototype_presence, sinkhorn_knopp)

__all__ = ['align_to_overlap', 'false_loss', 'filtered_slot_contrastive_loss', 'iddc_loss', 'negative_loss',
           'pixel_distillation_loss', 'positive_index', 'positive_loss', 'prototype_presence', 'sample_negative_shifts',
           'select_false_negatives', 'sinkhorn_knopp', 'weibull_balance_loss']
