"""Transforms of a config's pipelines addressed by type, and the switch of the photometric device stage.

mmengine's ``--cfg-options`` reaches a transform by its position in the list
(``train_dataloader.dataset.pipeline.2.on_device``), which differs between configs. :func:`find_transform`
gives the transform of a type instead, and :func:`set_augment_on_device` sets where the photometric
augmentation of every pipeline runs (``tools/train.py --augment-on-cpu``, docs/input_pipeline.md)::

    find_transform(cfg.train_dataloader.dataset.pipeline, 'FastRandomResizedCrop').scale = 96
    set_augment_on_device(cfg, False)
"""
from typing import Iterator, List, Sequence, Tuple, Union

from mmengine.config import Config
from mmpretrain.registry import MODELS

from ..models.data_preprocessor import BatchAugmentSelfSupDataPreprocessor

__all__ = ['find_transform', 'set_augment_on_device']

SWITCH_KEY = 'on_device'


def _type_name(transform_type) -> str:
    """``'RandomFlip'`` for ``'RandomFlip'``, ``'mmpretrain.RandomFlip'`` and the class itself."""
    if isinstance(transform_type, str):
        return transform_type.rsplit('.', 1)[-1]
    return getattr(transform_type, '__name__', str(transform_type))


def _typed_dicts(node, path: str) -> Iterator[Tuple[str, dict]]:
    """Every dict with a ``type`` in ``node`` (a config, a dict or a list), depth first and inner ones too
    (``MultiView``'s views, ``RandomApply``'s transforms, a wrapped dataset's pipeline), each with its
    ``--cfg-options`` key."""
    if isinstance(node, dict) and 'type' in node:
        yield path, node
    if isinstance(node, (dict, Config)):
        children = node.items()
    elif isinstance(node, (list, tuple)):
        children = enumerate(node)
    else:
        return
    for key, child in children:
        yield from _typed_dicts(child, f'{path}.{key}' if path else str(key))


def find_transform(pipeline: list, transform_type: Union[str, Sequence[str]]) -> dict:
    """The one transform config of type ``transform_type`` in ``pipeline``, inner transforms included
    (``MultiView``'s views, ``RandomApply``'s transforms): the dict itself, to change in place.

    Args:
        pipeline: a list of transform configs, e.g. ``cfg.train_dataloader.dataset.pipeline``.
        transform_type: the registered name, without a scope (``'FastRandomResizedCrop'``), or several names
            for the one transform of any of them (the crop of pipelines that differ in it).

    Raises:
        ValueError: the pipeline holds no transform of that type, or several.
    """
    wanted = (transform_type, ) if isinstance(transform_type, str) else tuple(transform_type)
    typed = list(_typed_dicts(pipeline, 'pipeline'))
    found = [transform for _, transform in typed if _type_name(transform['type']) in wanted]
    if len(found) != 1:
        names = ', '.join(_type_name(transform['type']) for _, transform in typed)
        raise ValueError(f'the pipeline holds {len(found) or "no"} transforms of type {" or ".join(wanted)}, '
                         f'expected one (its transforms: {names})')
    return found[0]


def _check_preprocessor_applies_parameters(cfg) -> None:
    """The model's data preprocessor applies the photometric parameters that ``on_device=True`` draws."""
    preprocessor = (cfg.get('model') or {}).get('data_preprocessor') or {}
    preprocessor_type = preprocessor.get('type')
    cls = MODELS.get(preprocessor_type) if isinstance(preprocessor_type, str) else preprocessor_type
    if not (isinstance(cls, type) and issubclass(cls, BatchAugmentSelfSupDataPreprocessor)):
        raise ValueError(f'on_device=True needs a data preprocessor that applies the photometric parameters '
                         f'(BatchAugmentSelfSupDataPreprocessor, MultiBandSelfSupDataPreprocessor), got '
                         f'model.data_preprocessor type {preprocessor_type!r}: the views would train without '
                         f'their colour augmentation')


def set_augment_on_device(cfg, on_device: bool) -> List[str]:
    """Run the photometric augmentation of the config's pipelines on the batch in the data preprocessor
    (``True``, the device stage) or per image in the loader workers (``False``, the all-CPU pipeline).

    Sets ``on_device`` of every transform of ``cfg`` that has the argument (``PhotometricAugment``,
    ``SDSHMultiCrop``) wherever it is: the dataloaders' datasets, wrapped datasets included, and the
    pipeline variables of the config (``train_pipeline``). Both settings train the same augmentation
    distribution. ``False`` needs no other change: without parameters in the data samples,
    ``BatchAugmentSelfSupDataPreprocessor`` is mmpretrain's ``SelfSupDataPreprocessor``.

    Args:
        cfg: a config (``Config`` or dict), changed in place.
        on_device: where the photometric transforms run.

    Returns:
        The ``--cfg-options`` keys of the transforms set, e.g. ``['train_dataloader.dataset.pipeline.2']``.

    Raises:
        TypeError: ``on_device`` is not a bool.
        ValueError: no transform of the config has an ``on_device`` argument (segmentation configs, IDDC,
            pipelines of one's own without the split), or ``on_device=True`` with a data preprocessor that
            does not apply the parameters.
    """
    if not isinstance(on_device, bool):
        raise TypeError(f'on_device must be True or False, got {on_device!r}')
    switches = [(path, transform) for path, transform in _typed_dicts(cfg, '') if SWITCH_KEY in transform]
    if not switches:
        raise ValueError('the config has no transform with an on_device argument (PhotometricAugment, '
                         'SDSHMultiCrop): its pipelines have no photometric device stage to switch, their '
                         'augmentations run where the pipelines define them')
    if on_device:
        _check_preprocessor_applies_parameters(cfg)
    for _, transform in switches:
        transform[SWITCH_KEY] = on_device
    return [path for path, _ in switches]
