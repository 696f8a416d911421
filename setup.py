# setuptools cannot take cffi_modules from pyproject.toml, nor install a folder (cases/) under another
# package name (kconform_cases): both are here.  Packages are discovered, never listed by hand.
from setuptools import find_packages, setup

CASES = ["kconform_cases", *(f"kconform_cases.{p}" for p in find_packages(where="cases"))]

setup(
    cffi_modules=["native_helpers/build.py:ffibuilder"],
    packages=[*find_packages(include=["conformance", "conformance.*"]), *CASES],
    package_dir={"kconform_cases": "cases"},
)
