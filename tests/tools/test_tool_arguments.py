"""Every tool's command line: help text for every argument, defaults shown by ``--help``, the shared flags on
every tool that needs them and one meaning for ``--out`` (predictions, as in mmseg)."""
import argparse
import glob
import os.path as osp

import pytest

from helpers.tools import REPO, load_tool

TOOLS = sorted(osp.relpath(path, osp.join(REPO, 'tools'))[:-3]
               for path in glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True))
# tools that read checkpoints (--unsafe-load) and tools that read configs (--cfg-options); every tool is listed
# in one of the four, so a new tool has to be placed
READ_CHECKPOINTS_AND_CONFIGS = {'train', 'test', 'infer_tiles', 'retrieve eval', 'retrieve search', 'vis_cluster',
                                'export_backbone', 'eval_backbone', 'vis_features',
                                'model_converters/convert_official'}
READ_CHECKPOINTS_ONLY = {'model_converters/adapt_input_channels'}
READ_CONFIGS_ONLY = {'analysis_tools/band_stats'}
READ_NEITHER = {'dataset_converters/cocostuff27', 'dataset_converters/label_fraction_split',
                'dataset_converters/make_synthetic_potsdam', 'dataset_converters/potsdam',
                'dataset_converters/potsdam_iic', 'dataset_converters/split_dataset'}


class ParserBuilt(Exception):
    """Stops a tool's ``parse_args`` once its parser is complete."""


def tool_parsers():
    """``{name: parser}`` of every tool, a sub-command's parser as ``'<tool> <command>'``: each tool's
    ``parse_args`` runs up to ``ArgumentParser.parse_args``, which hands over the parser instead of parsing."""
    parsers = {}
    parse_args = argparse.ArgumentParser.parse_args

    def capture(parser, *args, **kwargs):
        raise ParserBuilt(parser)

    argparse.ArgumentParser.parse_args = capture
    try:
        for name in TOOLS:
            with pytest.raises(ParserBuilt) as built:
                load_tool(name).parse_args([])
            parser = built.value.args[0]
            parsers[name] = parser
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    parsers.update({f'{name} {command}': sub for command, sub in action.choices.items()})
    finally:
        argparse.ArgumentParser.parse_args = parse_args
    return parsers


@pytest.fixture(scope='module')
def parsers():
    return tool_parsers()


def test_every_argument_has_help_and_help_shows_defaults(parsers):
    assert len(TOOLS) == 17
    for name, parser in parsers.items():
        missing = [action.dest for action in parser._actions if not action.help]
        assert not missing, f'{name}: no help for {missing}'
        assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
        assert issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter), name


def test_shared_flags_where_required(parsers):
    commands = {name for name, parser in parsers.items()
                if not any(isinstance(action, argparse._SubParsersAction) for action in parser._actions)}
    assert commands == READ_CHECKPOINTS_AND_CONFIGS | READ_CHECKPOINTS_ONLY | READ_CONFIGS_ONLY | READ_NEITHER
    for name in commands:
        flags = parsers[name]._option_string_actions
        assert ('--unsafe-load' in flags) == (name in READ_CHECKPOINTS_AND_CONFIGS | READ_CHECKPOINTS_ONLY), name
        assert ('--cfg-options' in flags) == (name in READ_CHECKPOINTS_AND_CONFIGS | READ_CONFIGS_ONLY), name


def test_out_means_predictions_only(parsers):
    """mmseg's meaning: ``--out`` holds predictions (tools/test.py's label PNGs); reports and pictures go to
    ``--work-dir``, ``--out-dir`` or ``--show-dir``."""
    assert {name for name, parser in parsers.items() if '--out' in parser._option_string_actions} == {'test'}


def test_help_shows_the_defaults(parsers):
    text = parsers['eval_backbone'].format_help()
    assert '(default: 0.5)' in text and '(default: backbone.)' in text
    assert '(default: None)' not in text and '(default: False)' not in text
