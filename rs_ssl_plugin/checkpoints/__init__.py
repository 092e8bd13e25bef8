"""Checkpoint files: reading any layout, integrity and resumption, backbone export, official-release conversion,
band adaptation."""
from .channel_adapt import (
    ChannelAdaptedPretrainedInit,
    adapt_checkpoint_input_channels,
    adapt_input_channels,
    adapt_state_dict_input_channels,
)
from .conversion import CONVERTERS, StateDict, convert_checkpoint, register_converter, strip_prefixes
from .export import (
    LoadReport,
    StemMismatchError,
    export_backbone,
    extract_backbone_state_dict,
    load_report,
    require_stem_fits,
    save_state_dict,
    written_by_plugin,
)
from .integrity import AtomicLocalBackend, checkpoint_is_intact, find_resume_checkpoint
from .pretrained import StemCheckedPretrainedInit
from .reading import (
    UnsafeCheckpointError,
    allow_unsafe_load,
    load_checkpoint_file,
    read_state_dict,
    register_safe_checkpoint_loaders,
    unwrap_checkpoint,
)

__all__ = ['AtomicLocalBackend', 'CONVERTERS', 'ChannelAdaptedPretrainedInit', 'LoadReport', 'StateDict',
           'StemCheckedPretrainedInit', 'StemMismatchError', 'UnsafeCheckpointError',
           'adapt_checkpoint_input_channels', 'adapt_input_channels', 'adapt_state_dict_input_channels',
           'allow_unsafe_load', 'checkpoint_is_intact', 'convert_checkpoint', 'export_backbone',
           'extract_backbone_state_dict', 'find_resume_checkpoint', 'load_checkpoint_file', 'load_report',
           'read_state_dict', 'register_converter', 'register_safe_checkpoint_loaders', 'require_stem_fits',
           'save_state_dict', 'strip_prefixes', 'unwrap_checkpoint', 'written_by_plugin']
