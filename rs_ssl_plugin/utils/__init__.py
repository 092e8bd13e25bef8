from .channel_adapt import (ChannelAdaptedPretrainedInit, adapt_checkpoint_input_channels, adapt_input_channels,
                            adapt_state_dict_input_channels)
from .checkpoint_export import (LoadReport, export_backbone, extract_backbone_state_dict, load_report,
                                read_state_dict, save_state_dict, unwrap_checkpoint)
from .config_modules import build_config_module
from .work_dir import check_work_dir_is_fresh, resolve_work_dir

__all__ = ['ChannelAdaptedPretrainedInit', 'LoadReport', 'adapt_checkpoint_input_channels', 'adapt_input_channels',
           'adapt_state_dict_input_channels', 'build_config_module', 'check_work_dir_is_fresh', 'export_backbone',
           'extract_backbone_state_dict', 'load_report', 'read_state_dict', 'resolve_work_dir', 'save_state_dict',
           'unwrap_checkpoint']
