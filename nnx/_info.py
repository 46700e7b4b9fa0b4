"""What this nnx build is and runs with (``nnx.show_config()``)."""
import os
import platform
import sys

import numpy as np

from . import _config, _malloc, kernels, precision
from ._version import __version__
from .kernels import cpu


def config_info():
    """Return the facts ``show_config`` prints, as a dict."""
    compiled_available = kernels.compiled_available

    info = {
        "nnx": __version__,
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        "numpy": np.__version__,
        "tiers": ["loops", "vectorized"] + (["cython"] if compiled_available() else []),
        "backend": kernels.get_backend_name(),
        "threads": _config.get_num_threads(),
        "usable_cpus": _config._usable_cpus(),
        "openmp": None,
        "build_flags": None,
        "gemm": "vectorized: NumPy BLAS",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "libgomp default"),
        "malloc_tuning": _malloc.state["reason"],
        "blas": [],
        "bf16": precision.bf16_path(),
        "bf16_paths": precision.bf16_paths(),
        "cpu_bf16": precision.cpu_bf16_features(),
        "cpu_level": cpu.cpu_level(),
        "cpu_levels": cpu.cpu_levels(),
        "cpu_detected": cpu.LEVELS[cpu.cpu_facts()["level"]],
        "cpu_cap": cpu.cpu_facts()["cap"],
        "variants": {},
    }
    if compiled_available():
        from .kernels import compiled

        build = compiled.build_info()
        info["openmp"], info["build_flags"], info["variants"] = build["openmp"], build["flags"], build["variants"]
        k = build["gemm"]
        info["gemm"] = (f"cython: nnx blocked GEMM (no BLAS call); micro-kernel "
                        f"{k['kernel']}, blocks KC={k['kc_f32']} MC={k['mc_f32']} NC={k['nc_f32']} "
                        f"(float32); vectorized: NumPy BLAS")
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer",
                                   "architecture", "filepath")}
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
    except ImportError:
        pass
    return info


_BF16_WHAT = {
    "emulated": "bf16-rounded operands, float32 FMA sums",
    "avx512_bf16": "vdpbf16ps kernels, float32 accumulation",
    "avx512_bf16-portable": "vdpbf16ps's portable C definition (its bits, slowly)",
    "amx": "AMX tile kernels (tdpbf16ps), float32 accumulation",
    "amx-portable": "tdpbf16ps's portable C definition (its bits, slowly)",
}


def show_config():
    """Print the version, compiled tiers, OpenMP on/off, threads and NumPy's BLAS."""
    info = config_info()
    omp = {None: "n/a (compiled tier not built)", True: "on", False: "OFF (serial build)"}
    lines = [
        f"nnx {info['nnx']}  (python {info['python']}, numpy {info['numpy']}, {info['platform']})",
        f"  kernel tiers      : {', '.join(info['tiers'])}  (Module layer uses: {info['backend']})",
        f"  OpenMP            : {omp[info['openmp']]}"
        + (f"; wait policy: {info['omp_wait_policy']}" if info["openmp"] else ""),
        f"  build flags       : {info['build_flags'] or 'n/a'}",
        f"  threads           : {info['threads']} (usable CPUs: {info['usable_cpus']}; "
        + ("set with set_num_threads)" if _config._state["explicit"] else
           "default: fewer while other processes keep CPUs busy)"),
        f"  CPU level         : {info['cpu_level']} (this CPU: {info['cpu_detected']}; "
        + (f"capped by NNX_CPU_LEVEL={info['cpu_cap']})" if info["cpu_cap"] else "NNX_CPU_LEVEL unset)"),
        f"  gemm              : {info['gemm']}",
        f"  malloc tuning     : {info['malloc_tuning']}",
        f"  bf16 (autocast)   : {info['bf16']}: {_BF16_WHAT[info['bf16']]} (CPU: AVX512_BF16 "
        f"{'yes' if info['cpu_bf16']['avx512_bf16'] else 'no'}, AMX-BF16 "
        f"{'yes' if info['cpu_bf16']['amx_bf16'] else 'no'}; paths here: {', '.join(info['bf16_paths'])})",
    ]
    if info["variants"]:
        lines.append("  kernel variants   : (at the CPU level in force)")
        lines += [f"    {family:<16}: {variant}" for family, variant in sorted(info["variants"].items())]
    if info["blas"]:
        for b in info["blas"]:
            lines.append(
                f"  NumPy BLAS        : {b['internal_api']} {b['version']} "
                f"({b['architecture']}, {b['threading_layer']}, {b['num_threads']} threads)"
            )
    else:
        lines.append("  NumPy BLAS        : unknown (threadpoolctl not installed)")
    print("\n".join(lines))
