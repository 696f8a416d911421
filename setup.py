# Only cffi_modules lives here: setuptools cannot take it from pyproject.toml.
from setuptools import setup

setup(cffi_modules=["native_helpers/build.py:ffibuilder"])
