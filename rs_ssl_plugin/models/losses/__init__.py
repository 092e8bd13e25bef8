from .false_loss import false_loss, positive_index, select_false_negatives

__all__ = ['false_loss', 'positive_index', 'select_false_negatives']
