"""The benchmark scripts that `make test` does not otherwise run: bench/pair_gemm.py and the
e2e table of bench/report.py (the e2e group itself only runs in `make bench`)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def report():
    sys.path.insert(0, str(BENCH))
    try:
        import report

        yield report
    finally:
        sys.path.remove(str(BENCH))


def test_pair_gemm_prints_one_row_per_shape_and_thread_count():
    out = subprocess.run([sys.executable, str(BENCH / "pair_gemm.py"), "8", "9", "10", "33", "17", "5",
                          "--rounds", "2", "--threads", "1,2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 8x9") or line.startswith("| 33x17")]
    assert len(rows) == 4
    assert rows[0].startswith("| 8x9 @ 9x10 | 1 |")


def test_pair_gemm_refuses_an_incomplete_shape():
    out = subprocess.run([sys.executable, str(BENCH / "pair_gemm.py"), "8", "9"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0 and "usage" in out.stderr


def test_e2e_table_uses_best_and_median_and_per_round_ratios(report):
    info = {"samples_per_s": {"nnx": [100.0, 300.0, 200.0], "torch": [100.0, 150.0, 125.0]},
            "pair_ratios": [1.0, 2.0, 1.6]}
    lines = report.e2e_table(info)
    assert "| nnx | 300 | 200 | 2.00x |" in lines
    assert "| torch | 150 | 125 | 1.00x |" in lines
    assert any("median 1.60x, range 1.00-2.00x over 3 rounds" in line for line in lines)


def test_e2e_table_without_torch(report):
    lines = report.e2e_table({"samples_per_s": {"nnx": [10.0, 30.0]}})
    assert "| nnx | 30 | 30 | n/a |" in lines
    assert not any("per round" in line for line in lines)


def test_render_reads_e2e_groups_of_both_json_layouts(report):
    new = {"group": "e2e MLP, 2 thr", "name": "test_train[mlp-2thr]", "params": {"model": "mlp"},
           "extra_info": {"samples_per_s": {"nnx": [120.0], "torch": [100.0]}, "pair_ratios": [1.2]}}
    old = [{"group": "e2e LeNet, 2 thr", "name": f"test_train[{fw}]", "params": {"framework": fw},
            "extra_info": {"samples_per_s": v}} for fw, v in (("nnx", 50.0), ("torch", 40.0))]
    text = report.render_groups({new["group"]: [new], old[0]["group"]: old}, {}, notes=False)
    assert "| nnx | 120 | 120 | 1.20x |" in text
    assert "| nnx | 50 | 50 | 1.25x |" in text and "| torch | 40 | 40 | 1.00x |" in text


def test_ab_steps_compares_two_checkouts_round_by_round():
    # this checkout against itself: two rounds, a few steps each
    out = subprocess.run([sys.executable, str(BENCH / "ab_steps.py"), str(BENCH.parent), "--model", "mlp",
                          "--threads", "1", "--rounds", "2", "--steps", "3"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2 and "median ratio this / other:" in out.stdout


def test_the_torch_side_of_the_time_to_99_race_runs_the_same_recipe(mnist_root):
    pytest.importorskip("torch")
    out = subprocess.run([sys.executable, str(BENCH / "mnist_fast_torch.py"), "--train-subset", "6000", "--epochs",
                          "2", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [x.split()[:2] for x in lines[:2]] == [["epoch", "1"], ["epoch", "2"]]
    assert lines[-2].startswith("time to 99.0%: ") and float(lines[-1].split(": ")[1]) > 0.5  # chance: 0.1


def test_e2e_table_of_a_bf16_group_has_a_column_per_reference(report):
    info = {"samples_per_s": {"nnx bf16": [300.0], "torch bf16": [100.0], "nnx": [150.0], "torch": [200.0]},
            "pair_ratios": [3.0], "pair_label": "nnx bf16 / torch bf16 per round"}
    lines = report.e2e_table(info)
    assert lines[0] == ("| framework | best samples/s | median samples/s | vs torch (best) | vs torch bf16 (best) |"
                        " vs nnx (best) |")
    assert "| nnx bf16 | 300 | 300 | 1.50x | 3.00x | 2.00x |" in lines


def test_the_bf16_e2e_worker_trains_both_frameworks():
    for fw in ("nnx-bf16",) + (("torch-bf16",) if importlib.util.find_spec("torch") else ()):
        out = subprocess.run([sys.executable, str(BENCH / "_e2e_worker.py"), fw, "mlp", "1"], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert float(out.stdout.strip().splitlines()[-1]) > 0
