"""Builds the native library (kernels/core + kernels/tflm + kernels/host) with the package.

It is loaded with ctypes (tflm_train/runtime/native.py), not imported: the
kernels are plain C/C++ with no Python API.
"""
import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildNative(build_ext):
    """C99 for the compute core, C++17 for the TFLM op library."""

    def build_extensions(self):
        compile_one = self.compiler._compile

        def _compile(obj, src, ext, cc_args, extra_postargs, pp_opts):
            std = ["-std=c99"] if src.endswith(".c") else ["-std=c++17", "-fno-exceptions", "-fno-rtti"]
            return compile_one(obj, src, ext, cc_args, extra_postargs + std, pp_opts)

        self.compiler._compile = _compile
        super().build_extensions()


sources = sorted(glob.glob("kernels/core/*.c") + glob.glob("kernels/core/naive/*.c") +
                 glob.glob("kernels/tflm/*.cc") + glob.glob("kernels/host/*.cc"))

setup(
    ext_modules=[Extension(
        "tflm_train._native",
        sources=sources,
        include_dirs=["kernels/include", "kernels"],
        define_macros=[("TFLMT_WHEEL_ABI", "1")],
        # Float kernels follow the spec's summation order; no fused multiply-add.
        extra_compile_args=["-O2", "-ffp-contract=off", "-Wall", "-Wextra"],
        libraries=["dl", "m"],
        language="c++",
    )],
    cmdclass={"build_ext": BuildNative},
)
