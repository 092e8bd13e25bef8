"""A runner hook that checks the heads' ``num_classes`` against the dataset before the first iteration."""
from typing import List, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS
from torch import nn

from ..datasets.transforms.loading import check_label_loader_classes


def head_class_counts(model: nn.Module) -> List[Tuple[str, int]]:
    """``(config key, num_classes)`` of an mmseg segmentor's ``decode_head`` and ``auxiliary_head`` (one head
    or a list); empty for models without them."""
    counts = []
    for name in ('decode_head', 'auxiliary_head'):
        heads = getattr(model, name, None)
        heads = [] if heads is None else list(heads) if isinstance(heads, nn.ModuleList) else [heads]
        for i, head in enumerate(heads):
            if hasattr(head, 'num_classes'):
                counts.append((f'{name}[{i}]' if len(heads) > 1 else name, int(head.num_classes)))
    return counts


@HOOKS.register_module()
class NumClassesCheckHook(Hook):
    """Fails before the first iteration when ``decode_head``/``auxiliary_head.num_classes``, or the
    ``num_classes`` given to a ``CheckedLoadAnnotations`` of the dataset's pipeline, differs from the number of
    classes of the training, validation or test dataset (``dataset.metainfo['classes']``).

    Without it too few classes end in ``IndexError: Target 4 is out of bounds`` at the first loss, and too
    many train and evaluate silently with heads for classes that do not exist. The plugin's segmentation
    configs enable it (``custom_hooks``), so ``tools/train.py``, ``tools/test.py`` and mmseg's own tools
    check it alike; add ``custom_hooks = [dict(type='NumClassesCheckHook')]`` to other configs.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        """Check the training set and, when there is a validation loop, the validation set."""
        self._check(runner, runner.train_loop.dataloader.dataset, 'training')
        if runner.val_loop is not None:
            self._check(runner, runner.val_loop.dataloader.dataset, 'validation')

    def before_val(self, runner) -> None:
        """Check the validation set (also when validating alone, ``runner.val()``)."""
        self._check(runner, runner.val_loop.dataloader.dataset, 'validation')

    def before_test(self, runner) -> None:
        """Check the test set."""
        self._check(runner, runner.test_loop.dataloader.dataset, 'test')

    @staticmethod
    def _check(runner, dataset, split: str) -> None:
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if not classes:
            return
        check_label_loader_classes(getattr(dataset, 'pipeline', ()), classes,
                                   f'the {split} dataset {type(dataset).__name__}')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        wrong = [(key, count) for key, count in head_class_counts(model) if count != len(classes)]
        if wrong:
            heads = ', '.join(f'model.{key}.num_classes is {count}' for key, count in wrong)
            raise ValueError(f'{heads} but the {split} dataset {type(dataset).__name__} has {len(classes)} classes '
                             f'({", ".join(map(str, classes))}): set num_classes={len(classes)} on every head of '
                             'the config (with fewer, the loss fails on the larger labels; with more, the extra '
                             'outputs train and score classes that do not exist)')
