"""Every CPU level this machine supports, tested on it (nnx.kernels.cpu, include/nnx_cpu.h).

The suite itself runs at the CPU's own level; here the kernel and layer tests run again once per
lower level, in subprocesses with NNX_CPU_LEVEL set, so the x86-64-v3 and baseline code is tested
on an AVX-512 machine too. Then the bits: float32 and float64 results agree bit for bit at every
level from avx2 up (docs/determinism.md says so, and says where the promise ends: the baseline has
no FMA), and the baseline really runs other code (a cap that changed nothing would pass the first
test vacuously)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from level_probe import NO_FMA

import nnx
from nnx.kernels import compiled_available, cpu

ROOT = Path(__file__).resolve().parents[1]
# the kernel and layer tests, as make test-asan runs them, and the bf16 and determinism ones
LEVEL_TESTS = ["tests/test_kernels.py", "tests/test_gemm.py", "tests/test_conv.py", "tests/test_layers.py",
               "tests/test_activations.py", "tests/test_norm_dropout_maxout.py", "tests/test_optim_adaptive.py",
               "tests/test_optim.py", "tests/test_losses_reg.py", "tests/test_graph.py", "tests/test_bf16.py",
               "tests/test_bf16_kernels.py", "tests/test_determinism.py", "tests/test_contract.py"]
needs_compiled = pytest.mark.skipif(not compiled_available(), reason="compiled tier not built")


def _env(level):
    env = dict(os.environ, NNX_CPU_LEVEL=level)
    env.pop("NNX_BACKEND", None)
    return env


def _below_top():
    return [lv for lv in cpu.LEVELS if lv in nnx.cpu_levels() and lv != nnx.cpu_level()]


@needs_compiled
@pytest.mark.parametrize("level", cpu.LEVELS)
def test_kernel_and_layer_tests_pass_at_every_level(level):
    if level not in nnx.cpu_levels():
        pytest.skip(f"this CPU lacks {level}: its bf16 kernels are tested through the portable definitions")
    if level == nnx.cpu_level():
        pytest.skip(f"{level} is the level in force: the whole suite runs at it")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *LEVEL_TESTS],
                         cwd=ROOT, env=_env(level), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"at NNX_CPU_LEVEL={level}:\n" + run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1]


def _probe(level):
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "level_probe.py")], cwd=ROOT, env=_env(level),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out.pop("level") == level
    return out


@needs_compiled
def test_float_results_are_bitwise_identical_from_avx2_up_and_the_baseline_differs_only_by_fma():
    levels = list(nnx.cpu_levels())
    probes = {lv: _probe(lv) for lv in levels}
    paths = {lv: probes[lv].pop("bf16_path") for lv in levels}
    top = levels[-1]
    for lv in levels[1:]:  # avx2 .. the top: every float32 and float64 result the same
        for case, digest in probes[lv].items():
            if " bf16" in case and paths[lv] != paths[top]:
                continue  # bf16 results follow the bf16 path (docs/precision.md), not the level
            assert digest == probes[top][case], f"{case}: {lv} differs from {top}"
    if "avx2" in levels:
        base, v3 = probes["baseline"], probes["avx2"]
        same = {case for case in base if base[case] == v3[case]}
        no_fma = {case for case in base if case.split()[0] in NO_FMA}
        assert no_fma <= same, f"differ at the baseline: {sorted(no_fma - same)}"
        # the cap took effect: GEMMs, convolutions, exp-based activations and optimizers change bits
        for case in ("gemm float32 128x784x512", "conv float32 (8, 6, 14, 14, 16, 5, 1, 0)", "sigmoid float32",
                     "adam float32", "fit mlp fp32"):
            assert case not in same, f"{case}: the baseline gave the x86-64-v3 bits (was the cap ignored?)"


def _import_nnx(level, code="import nnx"):
    return subprocess.run([sys.executable, "-c", code], env=_env(level), capture_output=True, text=True, timeout=120)


@needs_compiled
def test_an_unknown_level_or_one_this_cpu_lacks_stops_the_import_naming_the_variable():
    run = _import_nnx("avx3")
    assert run.returncode != 0 and "ValueError: NNX_CPU_LEVEL='avx3': expected one of baseline, avx2" in run.stderr
    assert "Illegal instruction" not in run.stderr
    lacking = [lv for lv in cpu.LEVELS if lv not in nnx.cpu_levels()]
    if not lacking:
        pytest.skip("this CPU has every level")
    run = _import_nnx(lacking[-1])
    assert run.returncode != 0
    assert f"ValueError: NNX_CPU_LEVEL={lacking[-1]}: this CPU supports only baseline" in run.stderr
    assert f"its own level is {nnx.cpu_level()}" in run.stderr


@needs_compiled
@pytest.mark.parametrize("level", ["baseline", "top"])
def test_cpu_level_levels_and_show_config_follow_the_cap(level):
    level = nnx.cpu_level() if level == "top" else level
    code = ("import nnx; print(nnx.cpu_level()); print(','.join(nnx.cpu_levels())); "
            "i = nnx._info.config_info(); print(sorted(set(i['variants'].values()))); nnx.show_config()")
    run = _import_nnx(level, code)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == level
    assert lines[1] == ",".join(cpu.LEVELS[:cpu.LEVELS.index(level) + 1])
    out = run.stdout
    assert f"CPU level         : {level} (this CPU: {cpu.LEVELS[cpu.cpu_facts()['level']]}; capped by " \
           f"NNX_CPU_LEVEL={level})" in out
    clone = {"baseline": "baseline", "avx2": "x86-64-v3"}.get(level, "x86-64-v4")
    for family in ("activations", "batchnorm", "conv", "gemm", "optimizers", "pooling", "softmax"):
        line = next(ln for ln in lines if ln.strip().startswith(family))
        assert clone in line, line


def test_the_level_api():
    levels = nnx.cpu_levels()
    assert levels[0] == "baseline" and levels[-1] == nnx.cpu_level()
    assert levels == cpu.LEVELS[:len(levels)]
    facts = cpu.cpu_facts()
    assert facts["cap"] == (os.environ.get("NNX_CPU_LEVEL") or None)
    if compiled_available():
        from nnx.kernels.compiled import _cpu
        assert _cpu.NLEVELS == len(cpu.LEVELS)  # the C enum and the Python names agree
        assert cpu.LEVELS[facts["level"]] in cpu.LEVELS
        if facts["level"] >= cpu.LEVELS.index("avx512"):
            assert facts["avx512f"] and facts["avx512bw"] and facts["avx512dq"] and facts["avx512vl"]
        if facts["level"] >= cpu.LEVELS.index("avx2"):
            assert facts["avx2"] and facts["fma"] and facts["os_avx"]


def test_the_level_agrees_with_the_kernels_cpu_flags():
    """The detection against /proc/cpuinfo where Linux has it (a second opinion, not the source)."""
    if not compiled_available() or not os.path.exists("/proc/cpuinfo"):
        pytest.skip("needs the compiled tier and /proc/cpuinfo")
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    facts = cpu.cpu_facts()
    for name in ("avx2", "fma", "avx512f", "avx512bw", "avx512_bf16"):
        assert facts[name] == (name in flags), name
    for name in ("amx_tile", "amx_bf16"):  # a kernel too old for AMX hides the flags CPUID has
        assert facts[name] or name not in flags, name
