"""Build nnx's compiled tier.

Switches (environment variables):
  NNX_NATIVE=1           add -march=native (faster, but the build only runs on this CPU family)
  NNX_NO_OPENMP=1        skip the OpenMP probe and build the serial kernels
  NNX_CYTHON_ANNOTATE=1  write Cython's HTML annotation next to each .pyx (yellow = Python calls)
  NNX_METADATA_ONLY=1    install without compiling (make then runs build_ext --inplace)
  NNX_DEBUG=1            AddressSanitizer + UndefinedBehaviorSanitizer build (-O1 -g; `make test-asan`),
                         with Cython's boundscheck and initializedcheck on

OpenMP is detected the way scikit-learn does it: compile, link and run a tiny program with the
compiler's OpenMP flag. If that fails the kernels are built serially and the build says so.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

MODULES = ["_cpu", "_openmp", "_activations", "_losses", "_optim", "_conv", "_pool", "_gemm", "_norm", "_bf16"]

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n > 0);
        return 0;
    }
    """
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _openmp_flags(compiler_type):
    """Return (compile_args, link_args) for OpenMP on this compiler family."""
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _probe_openmp(compiler, compile_args, link_args):
    """Compile, link and run the probe; True when it printed 1."""
    tmp = tempfile.mkdtemp(prefix="nnx-omp-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        with open("probe.c", "w") as f:
            f.write(OPENMP_PROBE)
        objects = compiler.compile(["probe.c"], extra_postargs=compile_args)
        exe = "probe" + (".exe" if sys.platform == "win32" else "")
        compiler.link_executable(objects, "probe", extra_postargs=link_args)
        out = subprocess.run([os.path.join(tmp, exe)], capture_output=True, text=True, timeout=30)
        return out.returncode == 0 and out.stdout.strip() == "1"
    except Exception:  # any failure (no omp.h, no libgomp, link error) means serial
        return False
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExt(build_ext):
    """build_ext that probes for OpenMP and picks per-compiler optimisation flags."""

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        if ctype == "msvc":
            opt = ["/O2"]
        else:
            # Never -ffast-math: it lets the compiler drop the NaN/inf handling that
            # softmax and the NaN-propagation tests rely on. -fno-trapping-math only stops gcc
            # from treating float compares as trapping, so it can turn the selects of ReLU,
            # max and nnx_expf into vector blends; results (NaN, inf, signed zeros) are unchanged.
            opt = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-Wno-unreachable-code"]
            if _env_flag("NNX_NATIVE"):
                opt.append("-march=native")
            if _env_flag("NNX_DEBUG"):  # every out-of-bounds access or UB in the kernels aborts with a report
                opt = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                       "-fno-sanitize-recover=undefined", "-Wno-unreachable-code"]
        omp_c, omp_l = _openmp_flags(ctype)
        if _env_flag("NNX_NO_OPENMP"):
            use_omp, why = False, "disabled by NNX_NO_OPENMP"
        else:
            use_omp = _probe_openmp(self.compiler, omp_c, omp_l)
            why = "probe compiled and ran" if use_omp else "probe failed to compile, link or run"
        if use_omp:
            print(f"nnx build: OpenMP ON ({' '.join(omp_c)}; {why})")
        else:
            msg = f"nnx build: OpenMP OFF ({why}); the compiled kernels will run serially"
            print("WARNING: " + msg, file=sys.stderr)
            print("WARNING: " + msg)
        flags = " ".join(opt + (omp_c if use_omp else []))
        sanitize = [f for f in opt if f.startswith("-fsanitize")]
        for ext in self.extensions:
            ext.extra_compile_args = opt + (omp_c if use_omp else [])
            ext.extra_link_args = (omp_l if use_omp else []) + sanitize
            ext.define_macros = list(ext.define_macros or []) + [
                ("NNX_BUILD_FLAGS", '"' + flags + '"'),
                ("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
            ]
        super().build_extensions()


SRC = "nnx/kernels/compiled"  # the compiled tier: .pyx/.pxd here, the C headers in include/
INCLUDE = f"{SRC}/include"


def _depends(name):
    """The .pxd and .h files extension ``name`` reads, directly or through another header, so
    that editing one rebuilds the extensions that use it and no other."""
    found, todo = set(), [f"{SRC}/{name}.pyx"] + glob.glob(f"{SRC}/{name}.pxd")
    while todo:
        text = open(todo.pop()).read()
        refs = [f"{INCLUDE}/{h}" for h in re.findall(r'(?:extern from|#include) "(nnx_\w+\.h)"', text)]
        refs += [f"{SRC}/{m}.pxd" for m in re.findall(r"from \.(\w+) cimport", text)]
        for path in refs:
            if path not in found and os.path.exists(path):
                found.add(path)
                todo.append(path)
    return sorted(found | set(glob.glob(f"{SRC}/{name}.pxd")))


def extensions():
    debug = _env_flag("NNX_DEBUG")
    exts = [
        Extension(
            f"nnx.kernels.compiled.{name}",
            [f"{SRC}/{name}.pyx"],
            include_dirs=[np.get_include(), INCLUDE],
            depends=_depends(name),
        )
        for name in MODULES
    ]
    return cythonize(
        exts,
        annotate=_env_flag("NNX_CYTHON_ANNOTATE"),
        # NNX_DEBUG=1 also checks every memoryview index (an IndexError instead of a silent
        # out-of-bounds access); the release build trusts the checks done in Python before nogil
        compiler_directives={"language_level": 3, "boundscheck": debug, "initializedcheck": debug,
                             "wraparound": False, "cdivision": True},
    )


if __name__ == "__main__":
    # NNX_METADATA_ONLY=1: install the package without compiling (the Makefile's editable install,
    # after which `setup.py build_ext --inplace -j 2` compiles, incrementally and in parallel).
    exts = [] if _env_flag("NNX_METADATA_ONLY") else extensions()
    setup(ext_modules=exts, cmdclass={"build_ext": BuildExt})
