"""The rules of ARCHITECTURE.md that a test can hold: every import inside nnx/ points down the
layer table, no two modules import each other (directly or through others) at import time, and
every file nnx writes goes through io.atomic_write."""
import ast
import re
from pathlib import Path

import nnx

ROOT = Path(nnx.__file__).parent
# Lowest first. A module may import from its own layer and the layers below it, never above.
LAYERS = [
    {"nnx._validation", "nnx._config", "nnx._malloc", "nnx._version"},  # process settings
    {"nnx.kernels", "nnx.precision"},                                  # the three tiers, the CPU level, autocast
    {"nnx.init", "nnx.module"},                                        # Parameter, Module, Sequential
    {"nnx.layers", "nnx.graph", "nnx.losses", "nnx.regularization", "nnx.optim", "nnx.gradcheck"},
    {"nnx.io", "nnx.onnx"},                                            # files: checkpoints, PNG, IDX, ONNX
    {"nnx.datasets"},                                                  # digits, MNIST, DataLoader
    {"nnx.train", "nnx.sklearn", "nnx.distributed"},                   # fit, callbacks, ..., sklearn, MPI
    {"nnx", "nnx.__main__", "nnx.cli", "nnx._info"},                   # the public face and the CLI
]
LEVEL = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module):
    return ".".join(module.split(".")[:2])


def _imports(path, top_level_only=False):
    """The nnx modules ``path`` imports (every import statement, or only module-level ones)."""
    name, is_pkg = _name(path), path.name == "__init__.py"
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "nnx"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "nnx":
                continue
            for a in node.names:  # `from pkg import sub` imports the submodule when it is one
                sub = f"{mod}.{a.name}"
                is_mod = (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (ROOT.parent / sub.replace(".", "/") / "__init__.py").exists()
                out.add(sub if is_mod else mod)
    return out


FILES = sorted(ROOT.rglob("*.py"))


def test_every_unit_has_a_layer():
    units = {_unit(_name(p)) for p in FILES}
    assert units <= set(LEVEL), f"add these to LAYERS (and ARCHITECTURE.md): {sorted(units - set(LEVEL))}"


def test_no_import_points_up():
    wrong = []
    for p in FILES:
        here = _unit(_name(p))
        for target in _imports(p):
            if LEVEL[_unit(target)] > LEVEL[here]:
                wrong.append(f"{_name(p)} imports {target} ({here} is below {_unit(target)})")
    assert not wrong, "\n".join(wrong)


def _find_circle(graph):
    """A list of nodes forming a cycle in ``{node: successors}``, or None (depth-first search)."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_import_circle():
    graph = {_name(p): {t for t in _imports(p, top_level_only=True) if t != _name(p)} for p in FILES}
    assert _find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check works
    circle = _find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_rule_catches_an_upward_import(tmp_path, monkeypatch):
    bad = ROOT / "module.py"
    source = bad.read_text() + "\nfrom .layers import Linear\n"
    fake = tmp_path / "nnx" / "module.py"
    fake.parent.mkdir()
    fake.write_text(source)
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path / "nnx")
    assert any(t == "nnx.layers" for t in _imports(fake))
    assert LEVEL["nnx.layers"] > LEVEL["nnx.module"]


# Writes that bypass io.atomic_write: the builtin open() for writing, matplotlib's savefig to a
# path, NumPy's and pathlib's one-call writers. (zipfile/gzip members, os.open and the like are
# not matched: checkpoints write zip members inside atomic_write.)
_WRITES = re.compile(r"""(?<![\w.])open\([^)]*["'](?:w|a|x)[bt+]*["']|\.savefig\((?!f\b)|\.write_(?:bytes|text)\(|"""
                     r"""np\.save(?:z|z_compressed)?\(|\.tofile\(""")


def _unatomic_writes(path):
    """Lines of ``path`` that write a file without atomic_write (a write to os.devnull is none)."""
    return [f"{path.name}:{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if _WRITES.search(line) and "devnull" not in line]


def test_every_file_nnx_writes_goes_through_atomic_write():
    """ARCHITECTURE.md's rule: temp file, fsync, rename; a reader never sees a torn file."""
    found = [w for p in FILES if p.name != "atomic.py" for w in _unatomic_writes(p)]
    assert not found, "write through nnx.io.atomic_write:\n" + "\n".join(found)


def test_the_write_rule_catches_a_plain_write(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('with open(path, "w") as f:\n    f.write(text)\nfig.savefig(path)\nnp.save(p, a)\n'
                   'with atomic_write(path) as f:\n    fig.savefig(f, format="png")\nzf.open(name, "w")\n')
    assert [w.split(":")[1] for w in _unatomic_writes(bad)] == ["1", "3", "4"]
