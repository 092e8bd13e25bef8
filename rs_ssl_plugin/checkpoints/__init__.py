"""Checkpoint files: reading any layout, backbone export, official-release conversion, band adaptation."""
from .channel_adapt import (
    ChannelAdaptedPretrainedInit,
    adapt_checkpoint_input_channels,
    adapt_input_channels,
    adapt_state_dict_input_channels,
)
from .conversion import CONVERTERS, StateDict, convert_checkpoint, register_converter, strip_prefixes
from .export import LoadReport, export_backbone, extract_backbone_state_dict, load_report, save_state_dict
from .reading import install_checkpoint_loader, read_state_dict, unwrap_checkpoint

__all__ = ['CONVERTERS', 'ChannelAdaptedPretrainedInit', 'LoadReport', 'StateDict', 'adapt_checkpoint_input_channels',
           'adapt_input_channels', 'adapt_state_dict_input_channels', 'convert_checkpoint', 'export_backbone',
           'extract_backbone_state_dict', 'install_checkpoint_loader', 'load_report', 'read_state_dict',
           'register_converter', 'save_state_dict', 'strip_prefixes', 'unwrap_checkpoint']
