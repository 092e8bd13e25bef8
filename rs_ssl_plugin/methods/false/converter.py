"""VISSL checkpoints (what FALSE's official code writes): the ResNet trunk under
``classy_state_dict.base_model.model.trunk`` with ``_feature_blocks.`` keys, which otherwise follow
torchvision's ResNet names, as mmpretrain's and mmseg's ``ResNet`` do."""
from collections import OrderedDict

from ...checkpoints.conversion import StateDict, register_converter, strip_prefixes


@register_converter('vissl-resnet')
def convert_vissl_resnet(state_dict: StateDict) -> StateDict:
    """``_feature_blocks.layer1.0.conv1.weight`` -> ``layer1.0.conv1.weight``; head weights are dropped."""
    state_dict = strip_prefixes(state_dict, ('module.', ))
    trunk = OrderedDict((k[len('_feature_blocks.'):], v) for k, v in state_dict.items()
                        if k.startswith('_feature_blocks.'))
    if not trunk:
        raise ValueError('no VISSL trunk weights (_feature_blocks.*) found; found e.g. '
                         f'{list(state_dict)[:5]}')
    return trunk
