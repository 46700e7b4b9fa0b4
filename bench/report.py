"""Turn pytest-benchmark JSON files into bench/README.md (markdown) and a PNG bar chart.

usage: python bench/report.py RESULTS.json [MORE.json ...] [--chart bench/chart.png] [--no-notes]
       [--source COMMAND] > bench/README.md
(with several files, a group found in a later file replaces the same group from earlier ones;
each group's rows always come from one run)

Kernel groups: best (minimum) and median time per call; speed-ups against the vectorized
(NumPy) tier, against torch and (where it ran) against the pure-Python loops, all measured side
by side in the same run, from the best times; GFLOP/s and GB/s where the benchmark declares its
flops and bytes. Why the minimum: on a shared VM, interference only ever adds time (a core
slowed for seconds by a neighbour), so the best of many rounds is the reproducible estimate of
a kernel's own cost; the median is shown so the spread stays visible. The e2e groups:
samples/s of each framework and the ratio to torch, from processes that alternate. Then a
roofline note per kernel (see ``roofline``). The chart
(matplotlib, optional) shows each group's speed-ups against the vectorized tier.
"""
import json
import platform
import re
import sys
from collections import defaultdict
from pathlib import Path


def impl_of(bench):
    params = bench.get("params") or {}
    return params.get("impl") or params.get("framework") or bench["name"]


STAT = "min"  # the statistic behind every ratio, GFLOP/s and GB/s (see the module docstring)


def fmt_time(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def threads_of(group):
    m = re.search(r"(\d+) thr", group)
    return int(m.group(1)) if m else 1


def load(paths):
    groups, data = {}, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        fresh = defaultdict(list)
        for b in data["benchmarks"]:
            fresh[b["group"]].append(b)
        groups.update(fresh)
    return groups, data


def machine_limits(groups, data):
    """Bandwidth (GB/s) measured by bench_machine, and compute peaks (GFLOP/s) per thread count:
    theoretical from the CPU description in the JSON, attainable = the best float32 GEMM rate of
    the run at that thread count."""
    bw = None
    for name, rows in groups.items():
        if name.startswith("machine: memory bandwidth"):
            r = rows[0]
            bw = r["extra_info"]["bytes"] / r["stats"][STAT] / 1e9
    attainable = defaultdict(float)
    for name, rows in groups.items():
        if name.startswith("gemm "):
            for r in rows:
                attainable[threads_of(name)] = max(attainable[threads_of(name)],
                                                   r["extra_info"]["flops"] / r["stats"][STAT] / 1e9)
    cpu = data.get("nnx_cpu", {})
    theoretical = {t: cpu["gflops_per_core"] * t for t in (1, 2)} if cpu.get("gflops_per_core") else {}
    return bw, dict(attainable), theoretical, cpu


def roofline(groups, data):
    """One line per kernel group with flops and bytes: arithmetic intensity, the roof
    min(peak, intensity x bandwidth) and how close the fastest implementation gets."""
    bw, attainable, theoretical, cpu = machine_limits(groups, data)
    if bw is None or not attainable:
        return ["(no roofline: run the machine and gemm groups in the same run)"]
    out = [f"Memory bandwidth (measured: a large copy): **{bw:.1f} GB/s**. Compute peak float32: "
           + ", ".join(f"{t} thr attainable {attainable[t]:.0f} GFLOP/s (best GEMM of the run)"
                       + (f", theoretical {theoretical[t]:.0f}" if t in theoretical else "")
                       for t in sorted(attainable)) + "."]
    if cpu:
        out.append(f"Theoretical = cores x {cpu.get('mhz', '?'):.0f} MHz (nominal) x "
                   f"{cpu.get('flops_per_cycle', '?')} flop/cycle ({cpu.get('isa', '?')}); turbo clocks "
                   "make the attainable number exceed it on this VM.")
    out += ["", "| kernel (group) | flops/call | bytes/call | flop/byte | roof GFLOP/s | impl | "
            "achieved GFLOP/s | GB/s | % of roof |", "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for name in sorted(groups):
        rows = groups[name]
        info = rows[0].get("extra_info", {})
        if "flops" not in info or "bytes" not in info or name.startswith(("e2e", "machine", "lesson")):
            continue
        t = threads_of(name)
        peak = attainable.get(t) or max(attainable.values())
        # nnx's compiled kernel where the group has one (how close nnx gets), else the fastest
        best = next((r for r in rows if impl_of(r) == "cython"), min(rows, key=lambda r: r["stats"][STAT]))
        sec = best["stats"][STAT]
        ai = info["flops"] / info["bytes"]
        roof = min(peak, ai * bw)
        got = info["flops"] / sec / 1e9
        out.append(f"| {name} | {info['flops']:.3g} | {info['bytes']:.3g} | {ai:.2f} | {roof:.0f} | "
                   f"{impl_of(best)} | {got:.1f} | {info['bytes'] / sec / 1e9:.1f} | {100 * got / roof:.0f}% |")
    out += ["", "A kernel left of the ridge (flop/byte below peak / bandwidth) is bound by memory: its "
            "roof is intensity x bandwidth, and GB/s is the number to watch. `bytes` counts the "
            "compulsory traffic (each input read once, each output written once), so caches can "
            "let a small kernel beat its memory roof."]
    return out


def e2e_table(info):
    """An e2e group's table: per framework, best and median samples/s over the alternating
    rounds; vs torch from the best of each and, per round, from the two neighbouring runs."""
    runs = info["samples_per_s"]  # {framework: [one value per round]}
    refs = [r for r in ("torch", "torch bf16", "nnx") if runs.get(r) and ("nnx bf16" in runs or r != "nnx")]
    out = ["| framework | best samples/s | median samples/s |" + "".join(f" vs {r} (best) |" for r in refs),
           "|---|---:|---:|" + "---:|" * len(refs)]
    for fw, vals in runs.items():
        v = sorted(vals)
        ratios = "".join(f" {max(v) / max(runs[r]):.2f}x |" for r in refs)
        out.append(f"| {fw} | {max(v):,.0f} | {v[len(v) // 2]:,.0f} |{ratios}")
    if not refs:
        out[0] += " vs torch (best) |"
        out[1] += "---:|"
        out[2:] = [line + " n/a |" for line in out[2:]]
    pairs = sorted(info.get("pair_ratios") or [])
    if pairs:
        label = info.get("pair_label", "nnx / torch per round (each nnx run next to a torch run)")
        out += ["", f"{label}: median "
                f"{pairs[len(pairs) // 2]:.2f}x, range {pairs[0]:.2f}-{pairs[-1]:.2f}x over {len(pairs)} rounds."]
    out.append("")
    return out


def render(paths, notes=True):
    """The markdown report of the given pytest-benchmark JSON files (``notes``: append NOTES.md)."""
    return render_groups(*load(paths), notes=notes)


def render_groups(groups, data, notes=True, source="make bench"):
    """``render`` on what ``load`` returned; ``source``: the command that made the numbers."""
    mi = data.get("machine_info", {})
    versions = data.get("nnx_versions", {})
    out = ["# nnx benchmarks", "",
           f"Generated by `{source}` (`bench/report.py`); numbers are ratios measured side by side "
           "in one run. Do not edit by hand. Chart: `bench/chart.png`.", "",
           f"- machine: {mi.get('cpu', {}).get('brand_raw', platform.processor())}, "
           f"{mi.get('cpu', {}).get('count', '?')} logical CPUs, {mi.get('system', '')} "
           f"{mi.get('release', '')}",
           f"- python {mi.get('python_version', '?')}; " + ", ".join(f"{k} {v}" for k, v in versions.items()),
           f"- date: {data.get('datetime', '?')}", ""]
    for name in sorted(groups, key=lambda g: (g.startswith("e2e"), g)):
        rows = groups[name]
        out.append(f"## {name}")
        out.append("")
        if name.startswith("e2e"):
            info = rows[0]["extra_info"]
            if not isinstance(info.get("samples_per_s"), dict):  # a JSON of before the rounds
                info = {"samples_per_s": {impl_of(r): [r["extra_info"]["samples_per_s"]] for r in rows}}
            out += e2e_table(info)
            continue
        best = {impl_of(r): r["stats"][STAT] for r in rows}
        med = {impl_of(r): r["stats"]["median"] for r in rows}
        info = rows[0].get("extra_info", {})
        flops, nbytes = info.get("flops"), info.get("bytes")
        refs = [r for r in ("vectorized", "torch", "torch fp32", "cython fp32", "loops") if r in best]
        head = "| implementation | best | median |" + "".join(f" vs {r} |" for r in refs)
        head += (" GFLOP/s |" if flops else "") + (" GB/s |" if nbytes else "")
        out += [head, "|---|---:|---:|" + "---:|" * (len(refs) + bool(flops) + bool(nbytes))]
        for impl, t in sorted(best.items(), key=lambda kv: kv[1]):
            line = (f"| {impl} | {fmt_time(t)} | {fmt_time(med[impl])} |"
                    + "".join(f" {best[r] / t:.2f}x |" for r in refs))
            if flops:
                line += f" {flops / t / 1e9:.1f} |"
            if nbytes:
                line += f" {nbytes / t / 1e9:.1f} |"
            out.append(line)
        out.append("")
    out.append("Speed-ups are `time(reference) / time(row)`: above 1 means the row is faster.")
    out += ["", "## Roofline", ""] + roofline(groups, data)
    out += ["", "## Reading these numbers", "",
            "- Runs on a machine shared with other work vary: on the shared 2-core VM behind the "
            "committed bench/README.md, repeated runs of the same 2-thread group differ by up to "
            "~25% (torch's MLP training has been seen anywhere from 38k to 56k samples/s). "
            "Compare rows within one group (same run), not across runs.",
            "- Ratios, GFLOP/s, GB/s and the roofline use each row's best time (interference only "
            "adds time; a vCPU here can run at a third of its speed for seconds), the median "
            "beside it shows the spread. A slow spell can still cover a whole row: for nnx against "
            "OpenBLAS, `python bench/pair_gemm.py` alternates the two call by call (NOTES.md).",
            "- `gemm` in the cython tier is nnx's blocked GEMM for every shape (no BLAS call); see "
            "NOTES.md for the dispatch measurements.",
            "- Within one process, a BLAS call leaves OpenBLAS's workers spinning for a while (and "
            "torch's and nnx's OpenMP workers too), which slows whatever runs next on the other "
            "core: each kernel row starts after 0.3 s of sleep, and the e2e rows run each framework "
            "in a fresh process, alternating nnx and torch so that a slow spell of the VM hits "
            "both."]
    notes_file = Path(__file__).with_name("NOTES.md")
    if notes and notes_file.exists():
        out += ["", notes_file.read_text().rstrip()]
    return "\n".join(out)


def chart(groups, png):
    """Bar chart (``groups`` from ``load``): speed-up of every implementation against the
    vectorized tier, per group."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("report.py: matplotlib not installed, no chart", file=sys.stderr)
        return None
    names = [g for g in sorted(groups) if not g.startswith(("e2e", "machine"))
             and any(impl_of(r) == "vectorized" for r in groups[g])]
    impls = ["loops", "vectorized", "cython", "nnx", "torch"]
    fig = Figure(figsize=(11, 0.32 * len(names) + 1.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    height = 0.8 / len(impls)
    for i, impl in enumerate(impls):
        ys, xs = [], []
        for j, g in enumerate(names):
            best = {impl_of(r): r["stats"][STAT] for r in groups[g]}
            if impl in best:
                ys.append(j + i * height)
                xs.append(best["vectorized"] / best[impl])
        ax.barh(ys, xs, height=height, label=impl)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(names))], names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up against the vectorized (NumPy) tier, log scale (higher is faster)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png)
    return png


def main(argv):
    png, notes, source = None, "--no-notes" not in argv, "make bench"
    argv = [a for a in argv if a != "--no-notes"]
    if "--source" in argv:
        i = argv.index("--source")
        source = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if "--chart" in argv:
        i = argv.index("--chart")
        png = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if not argv or not all(re.search(r"\.json$", a) for a in argv):
        raise SystemExit(__doc__)
    groups, data = load(argv)
    print(render_groups(groups, data, notes=notes, source=source))
    if png:
        chart(groups, png)


if __name__ == "__main__":
    main(sys.argv[1:])
