"""The reference is complete: every public name (the ``__all__`` of nnx and of each public
package) is documented in docs/api.md, with a docstring; every class member the page lists
exists and has one; the guide pages it links to exist. (``make docs`` builds the page with
warnings as errors; this test needs no Sphinx.)"""
import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

import nnx

ROOT = Path(__file__).resolve().parents[1]
API = (ROOT / "docs" / "api.md").read_text()
DIRECTIVES = re.findall(r"^\.\. auto(class|function|data|exception)::\s+(\S+)((?:\n   :[^\n]*)*)", API, re.M)
OPTIONAL = ("nnx.onnx", "nnx.sklearn", "nnx.distributed")  # public modules not imported by `import nnx`


def _resolve(path):
    parts = path.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[:i + 1]))
    return obj


def _public_modules():
    mods = {"nnx": nnx}
    for name in nnx.__all__:
        obj = getattr(nnx, name)
        if isinstance(obj, types.ModuleType):
            mods[f"nnx.{name}"] = obj
    for name in OPTIONAL:
        try:
            mods[name] = importlib.import_module(name)
        except ImportError:  # its extra is not installed: its names are checked where it is
            pass
    return mods


def _documented():
    found = {}
    for _, path, _ in DIRECTIVES:
        try:
            found[id(_resolve(path))] = path
        except (ImportError, AttributeError):
            if path.split(".")[:2] != ["nnx", "onnx"] and not path.startswith(OPTIONAL):
                raise
    return found


def _names():
    return [(mname, name) for mname, mod in _public_modules().items() for name in mod.__all__]


def test_every_public_module_declares_its_names():
    for mname, mod in _public_modules().items():
        assert isinstance(getattr(mod, "__all__", None), list | tuple), f"{mname} has no __all__"


@pytest.mark.parametrize("mname, name", _names(), ids=[f"{m}.{n}" for m, n in _names()])
def test_every_public_name_is_in_the_reference_with_a_docstring(mname, name):
    obj = getattr(_public_modules()[mname], name)
    if isinstance(obj, types.ModuleType):
        assert obj.__name__ in {m.__name__ for m in _public_modules().values()} or obj.__name__.startswith("nnx.train")
        return
    assert id(obj) in _documented(), f"{mname}.{name} is public but not in docs/api.md"
    if inspect.isclass(obj) or inspect.isroutine(obj):
        assert inspect.getdoc(obj), f"{mname}.{name} has no docstring"
        if inspect.isclass(obj):
            for key, value in vars(obj).items():
                if not key.startswith("_") and (callable(value) or isinstance(value, property | classmethod)):
                    assert inspect.getdoc(getattr(obj, key)), f"{mname}.{name}.{key} has no docstring"
    elif not name.startswith("__"):  # data: a #: comment where it is defined (autodata shows it)
        source = inspect.getsource(inspect.getmodule(_home(mname, name)))
        assert re.search(rf"^#:.*\n{name} =", source, re.M), f"{mname}.{name}: no #: comment at its definition"


def _home(mname, name):
    """The module that defines data ``name`` (re-exported names live elsewhere)."""
    mod = _public_modules()[mname]
    for candidate in [mod, *[m for m in vars(mod).values() if isinstance(m, types.ModuleType)]]:
        if re.search(rf"^{name} =", inspect.getsource(candidate), re.M):
            return candidate
    raise AssertionError(f"{mname}.{name}: where is it defined?")


def test_listed_members_exist_with_docstrings():
    for _, path, options in DIRECTIVES:
        listed = re.search(r":members:([^\n]*)", options)
        if not listed or not listed.group(1).strip():
            continue
        try:
            cls = _resolve(path)
        except ImportError:
            continue
        for member in (m.strip() for m in listed.group(1).split(",")):
            assert hasattr(cls, member), f"docs/api.md lists {path}.{member}, which does not exist"
            value = getattr(cls, member)
            if not isinstance(value, bool):
                assert inspect.getdoc(value), f"{path}.{member} has no docstring"


def test_the_issue_names_are_there():
    # what the reference lacked: Module.forward/backward, load_with_header, DataLoader, models,
    # onnx, sklearn, safetensors, plot, distributed, metrics, the callbacks
    for name in ("nnx.io.load_with_header", "nnx.datasets.DataLoader", "nnx.models.mlp", "nnx.models.lenet5",
                 "nnx.onnx.export", "nnx.sklearn.NNXClassifier", "nnx.io.save_safetensors",
                 "nnx.io.load_safetensors", "nnx.plot.plot_report", "nnx.distributed.init",
                 "nnx.metrics.confusion_matrix", "nnx.callbacks.LRScheduler", "nnx.callbacks.CSVLogger",
                 "nnx.callbacks.JSONLogger", "nnx.callbacks.Callback", "nnx.Normalize"):
        assert f":: {name}\n" in API, name
    module = re.search(r"autoclass:: nnx\.Module\n\s+:members: ([^\n]*)", API).group(1)
    assert "forward" in module.split(", ") and "backward" in module.split(", ")
    assert "API.md" not in API.replace("api.md", "")  # no file outside the repository


def test_the_guides_exist_and_are_linked():
    for page in ("own_layer.md", "interop.md"):
        assert (ROOT / "docs" / page).is_file()
        assert f"]({page})" in API
        assert page.removesuffix(".md") in (ROOT / "docs" / "index.md").read_text()
