# setuptools cannot take cffi_modules from pyproject.toml, nor install a folder (cases/) under another
# package name (kconform_cases): both are here, with build_ext also linking the process server
# (native_helpers/kc_serve.h) and writing the enums derived from the headers (build.py's ENUMS).
# Packages are discovered, never listed by hand.
import functools
import importlib.util
import os

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

CASES = ["kconform_cases", *(f"kconform_cases.{p}" for p in find_packages(where="cases"))]


@functools.cache
def _builder():
    spec = importlib.util.spec_from_file_location("kc_build", os.path.join("native_helpers", "build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BuildExtWithServer(build_ext):
    def _server_dir(self):
        if self.inplace or getattr(self, "editable_mode", False):
            return self.get_finalized_command("build_py").get_package_dir("conformance")
        return os.path.join(self.build_lib, "conformance")

    def run(self):
        super().run()
        if self.compiler is None or isinstance(self.compiler, str):
            from setuptools._distutils.ccompiler import new_compiler
            from setuptools._distutils.sysconfig import customize_compiler

            compiler = new_compiler(compiler=self.compiler)
            customize_compiler(compiler)
        else:
            compiler = self.compiler
        _builder().build_server(compiler, self._server_dir(), self.build_temp)
        _builder().write_enums(self._server_dir())

    def get_outputs(self):
        b = _builder()
        enums = [os.path.join(self._server_dir(), f"_{h}_h.py") for h in b.ENUMS]
        return [*super().get_outputs(), os.path.join(self._server_dir(), b.SERVER), *enums]


setup(
    cffi_modules=["native_helpers/build.py:ffibuilder"],
    packages=[*find_packages(include=["conformance", "conformance.*"]), *CASES],
    package_dir={"kconform_cases": "cases"},
    cmdclass={"build_ext": BuildExtWithServer},
)
