"""SDCluster releases: ``Swin-S.pt`` (the OS16 Swin-S) and ``ClusterEval.pt``, and full training checkpoints.

Layouts accepted (after ``state_dict``/``model`` unwrapping and ``module.`` stripping):

- the bare encoder (``patch_embed.*``, ``layers.*``, ``norm{i}.*``), as in ``Swin-S.pt``;
- the official training model: ``encoder_q.*``/``encoder_k.*``, ``projector_{q,k}.mlp.*``,
  ``grouping_{q,k}.prototype_embed.weight``, ``predictor_slot.*``;
- ``ClusterEval.pt``: ``encoder.*``, ``projector.mlp.*``, ``assign.prototype_embed.weight``;
- this plugin's SDCluster Runner checkpoint: ``backbone.*``, ``neck.*``, ``prototypes.*`` (student) and
  ``teacher.module.{backbone,neck,prototypes}.*``.

Where a file holds both branches the teacher is taken (``encoder_k``, ``teacher.module``), as ClusterEval
and SlotCon's evaluation do; ``--format sdcluster-swin-student`` takes the student instead.
"""
from collections import OrderedDict

from ...checkpoints.conversion import StateDict, register_converter, strip_prefixes

# (encoder, projector, prototypes) prefixes of each layout, teacher before student
TEACHER_LAYOUTS = (('encoder_k.', 'projector_k.', 'grouping_k.'),
                   ('teacher.module.backbone.', 'teacher.module.neck.', 'teacher.module.prototypes.'),
                   ('encoder.', 'projector.', 'assign.'))
STUDENT_LAYOUTS = (('encoder_q.', 'projector_q.', 'grouping_q.'), ('backbone.', 'neck.', 'prototypes.'),
                   ('encoder.', 'projector.', 'assign.'))


def _select(state_dict: StateDict, prefix: str) -> StateDict:
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))


def _layout(state_dict: StateDict, layouts) -> tuple:
    for layout in layouts:
        if any(k.startswith(layout[0]) for k in state_dict):
            return layout
    return None


def _encoder(state_dict: StateDict, layouts) -> StateDict:
    state_dict = strip_prefixes(state_dict, ('module.', ))
    layout = _layout(state_dict, layouts)
    if layout is None:
        if not any(k.startswith('patch_embed.') for k in state_dict):
            raise ValueError('no SDCluster encoder found: expected encoder_k./encoder_q./encoder./backbone. '
                             f'keys or a bare Swin (patch_embed.*); found e.g. {list(state_dict)[:5]}')
        return state_dict
    return _select(state_dict, layout[0])


@register_converter('sdcluster-swin')
def convert_sdcluster_swin(state_dict: StateDict) -> StateDict:
    """The OS16 Swin-S encoder (teacher branch when both are present) with the official keys."""
    return _encoder(state_dict, TEACHER_LAYOUTS)


@register_converter('sdcluster-swin-student')
def convert_sdcluster_swin_student(state_dict: StateDict) -> StateDict:
    """The OS16 Swin-S encoder of the student branch."""
    return _encoder(state_dict, STUDENT_LAYOUTS)


@register_converter('sdcluster-clustereval', prefix='')
def convert_sdcluster_clustereval(state_dict: StateDict) -> StateDict:
    """The ClusterEval layout (``encoder.``, ``projector.``, ``assign.``) from the teacher branch."""
    state_dict = strip_prefixes(state_dict, ('module.', ))
    layout = _layout(state_dict, TEACHER_LAYOUTS)
    if layout is None:
        raise ValueError('no SDCluster teacher/ClusterEval weights found: expected encoder_k., '
                         f'teacher.module.backbone. or encoder. keys; found e.g. {list(state_dict)[:5]}')
    converted = OrderedDict()
    for source, target in zip(layout, ('encoder.', 'projector.', 'assign.')):
        part = _select(state_dict, source)
        if not part:
            raise ValueError(f'no weights under {source!r} for the ClusterEval {target!r} part')
        converted.update((target + k, v) for k, v in part.items())
    return converted
