"""Every ```python block of README.md and docs/*.md runs as written, each in a fresh interpreter
in an empty folder (so each is standalone), and prints something."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(page, i, code) for page in PAGES
          for i, code in enumerate(re.findall(r"^```python\n(.*?)^```", page.read_text(), re.M | re.S))]
EXTRAS = {"onnx": "onnx", "onnxruntime": "onnx", "safetensors": "safetensors", "sklearn": "sklearn", "torch": "torch",
          "matplotlib": "plot", "mpi4py": "mpi"}  # module -> what the text before a block must name


def test_the_pages_have_python_blocks():
    assert {p.name for p, _, _ in BLOCKS} >= {"README.md", "training.md", "checkpoints.md"}


@pytest.mark.parametrize("page, index, code", BLOCKS, ids=[f"{p.name}-{i}" for p, i, _ in BLOCKS])
def test_python_block_runs(tmp_path, page, index, code):
    for extra in ("onnx", "onnxruntime", "safetensors", "sklearn", "torch"):  # the optional extras' blocks
        if re.search(rf"^(import|from) {extra}\b", code, re.M) and importlib.util.find_spec(extra) is None:
            pytest.skip(f"needs {extra} (NNX_TEST_EXTRAS=1 / NNX_TEST_TORCH=1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, f"{page.name} block {index}:\n{code}\n{out.stderr}"
    assert out.stdout.strip(), f"{page.name} block {index} prints nothing"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_block_says_which_extras_it_needs(page):
    # the paragraph before a block names every optional package it imports (the safetensors
    # example imports torch too: a reader without torch must learn it before running it)
    text = page.read_text()
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S):
        before = text[:m.start()].rsplit("```", 1)[-1]
        for module, extra in EXTRAS.items():
            if re.search(rf"^(import|from) {module}\b", m.group(1), re.M):
                assert re.search(rf"pip install[^`]*\b{module}\b", before) or f"nnx[{extra}]" in before, \
                    f"{page.name}: the block at offset {m.start()} imports {module}; say so before it"


def test_readme_links_point_at_files():
    for target in re.findall(r"\]\(([^)#]+)\)", (ROOT / "README.md").read_text()):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
