"""Install the gaussgan package: `make` does this into .venv (see the README)."""

from pathlib import Path

from setuptools import find_packages, setup

version: dict = {}
exec(Path(__file__).with_name("gaussgan").joinpath("_version.py").read_text(), version)

setup(
    name="gaussgan",
    version=version["__version__"],
    description="How well does a GAN learn a distribution that is known exactly?",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["gaussgan", "gaussgan.*"]),
    install_requires=[
        "torch>=2.0",
        "numpy>=1.24",
        "scipy>=1.11",  # scipy.stats.false_discovery_control
        "h5py>=3.8",
        "matplotlib>=3.7",
        "pandas>=2.0",
        "tqdm>=4.60",
        "scikit-learn>=1.3",  # the classifier two-sample test of the verdicts
        "dask[distributed]>=2024.1",  # studies: sweeps on a LocalCluster or an existing Dask cluster
    ],
    # pytest-xdist: the end-to-end tests are single-threaded subprocesses; two workers halve the wait.
    # ruff, mypy and import-linter (make lint) are pinned: a new release must not fail CI on unchanged code.
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3", "ruff==0.17.6", "mypy==2.4.1", "import-linter==2.17"],
        "tensorboard": ["tensorboard>=2.14"],  # train.py --tensorboard
    },
)
