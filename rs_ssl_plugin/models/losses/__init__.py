from .false_loss import false_loss, positive_index, select_false_negatives
from .iddc_loss import (iddc_loss, negative_loss, positive_loss, sample_negative_shifts,
                        weibull_balance_loss)

__all__ = ['false_loss', 'positive_index', 'select_false_negatives',
           'iddc_loss', 'negative_loss', 'positive_loss', 'sample_negative_shifts', 'weibull_balance_loss']
