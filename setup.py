from setuptools import find_packages, setup


def read_requirements(path):
    """Requirement lines of ``path``, without blank lines and comments."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


setup(
    name='rs_ssl_plugin',
    version='0.1.0',
    description='Self-supervised pre-training for remote-sensing imagery as an OpenMMLab 2.x extension',
    long_description=open('README.md').read() if __import__('os').path.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'configs', 'tools', 'bench')),
    python_requires='>=3.10',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require=dict(tests=read_requirements('requirements/tests.txt'),
                        optional=read_requirements('requirements/optional.txt')),
    license='Apache-2.0',
)
