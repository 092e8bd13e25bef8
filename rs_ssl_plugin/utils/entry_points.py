"""What the plugin's command-line entry points (tools/, demo/) set up before running."""
import warnings

__all__ = ['silence_pkg_resources_warning']


def silence_pkg_resources_warning() -> None:
    """Hide setuptools' ``pkg_resources is deprecated`` UserWarning, which the pinned mmengine emits several
    times in every command (``Config.fromfile``, registry imports), and nothing else. Called by the entry
    points only: importing the library changes no warning filter."""
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
