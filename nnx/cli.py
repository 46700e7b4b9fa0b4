"""``python -m nnx``: train, evaluate, predict, export, bench, info.

Exit codes: 0 success; 1 the command failed (missing data, unreadable checkpoint, ...); 2 the
command line is wrong (argparse's convention); 130 training stopped by Ctrl-C (after saving
the model when ``--save`` was given). Errors are one line on stderr, ``nnx: error: ...``;
``--debug`` shows the traceback instead.
"""
import argparse
import difflib
import io
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .io import load_header, load_with_header
from .precision import PRECISIONS
from .train.callbacks import Callback

DATASETS = ("digits", "mnist", "fashion-mnist")
MODELS = ("mlp", "lenet5")
OPTIMIZERS = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.01}  # default lr
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class CLIError(Exception):
    """A failure to report as one line with exit code 1."""


def _arg_type(convert, ok, what):
    """An argparse type: ``convert(text)`` that must satisfy ``ok``, else a usage error (exit 2)."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _arg_type(int, lambda v: v >= 1, "a positive integer")
_nonnegative_int = _arg_type(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _arg_type(float, lambda v: v > 0 and np.isfinite(v), "a positive number")
_precision = _arg_type(PRECISIONS.get, lambda v: True, "fp32, float32, bf16 or bfloat16")


# -- data ------------------------------------------------------------------------------------------
def load_data(name, root=None, download=False):
    """``(X_train, y_train, X_test, y_test, (mean, std))`` with images (N, 1, H, W) in [0, 1]."""
    import nnx
    if name == "digits":
        X, y, Xt, yt = nnx.datasets.load_digits()
        norm = (float(X.mean()), float(X.std()))
    else:
        try:
            X, y, Xt, yt = nnx.datasets.load_mnist(root, name, download)
        except FileNotFoundError as exc:
            raise CLIError(str(exc).splitlines()[0]) from None  # the same line the API and the examples give
        norm = nnx.datasets.NORMALIZE[name]
    return X, y, Xt, yt, norm


# -- train -----------------------------------------------------------------------------------------
#: The arguments that make a run what it is: a checkpoint records them, and ``--resume`` refuses a
#: command that differs in any of them (``--epochs`` too: the cosine schedule spans the run).
RUN_ARGS = ("model", "data", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
            "seed", "train_subset", "precision")


def _check_train_args(args):
    """Everything that would fail after training, checked before it starts: output paths,
    optional dependencies, the checkpoint to resume."""
    import nnx
    if args.backend == "loops" and (args.data != "digits" and (args.train_subset or 60000) > 2000):
        warnings.warn("--backend loops is the teaching tier, pure-Python loops (~15 samples/s on MNIST): "
                      "a full epoch takes over an hour; use --train-subset 500, or the cython tier",
                      UserWarning, stacklevel=2)
    for opt, path in (("--save", args.save), ("--checkpoint", args.checkpoint)):
        if path is not None:
            try:
                nnx.io.check_writable(path, opt)
            except (OSError, ValueError) as exc:
                raise CLIError(f"{opt}: {exc}") from None
    if args.plots is not None:
        try:
            import matplotlib  # noqa: F401  (only when --plots is given)
        except ImportError:
            raise CLIError("--plots needs matplotlib: pip install 'nnx[plot]' (or matplotlib)") from None
        if os.path.exists(args.plots) and not os.path.isdir(args.plots):
            raise CLIError(f"--plots: {args.plots} is a file; it must name a folder (made if missing)")
        parent = os.path.dirname(os.path.abspath(args.plots))
        if not os.path.isdir(parent):
            raise CLIError(f"--plots: cannot make {args.plots}: no such directory {parent}")
    if args.distributed:
        from .distributed import require_mpi
        require_mpi("--distributed")  # the pip install 'nnx[mpi]' message, before any data is read
    if args.resume is not None:
        done = _check_resume(args)
        print(f"resuming {args.resume}: {done} of {args.epochs} epochs done", flush=True)


def _check_resume(args):
    """The checkpoint to resume: a resumable one, written by a run with the same arguments."""
    if not os.path.isfile(args.resume):
        raise CLIError(f"--resume: {args.resume}: " + ("is a directory" if os.path.isdir(args.resume)
                                                       else "no such file"))
    meta = load_header(args.resume).get("metadata", {})
    saved = meta.get("train_args") if isinstance(meta, dict) else None
    if not isinstance(saved, dict):
        raise CLIError(f"--resume: {args.resume} was not written by `python -m nnx train --checkpoint` (resume "
                       "a checkpoint of your own with nnx.fit(..., resume=path))")
    for key in RUN_ARGS:
        if saved.get(key) != _plain_arg(getattr(args, key)):
            flag = "--" + key.replace("_", "-")
            raise CLIError(f"--resume: {args.resume} was written by a run with {flag} {saved.get(key)}; this "
                           f"command has {_plain_arg(getattr(args, key))}: give the same arguments to resume")
    done = meta.get("epochs_completed")
    if not isinstance(done, int) or done < 0:
        raise CLIError(f"--resume: {args.resume}: unusable metadata 'epochs_completed'")
    if done >= args.epochs:
        raise CLIError(f"--resume: {args.resume}: the run is complete ({done} of {args.epochs} epochs); "
                       "nothing to resume")
    return done


def _plain_arg(value):
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def cmd_train(args):
    import nnx

    from .train import models
    _check_train_args(args)
    _setup_runtime(args)
    rank, world = nnx.distributed.init() if args.distributed else (0, 1)
    if rank:  # rank 0 reports and writes the files
        sys.stdout = open(os.devnull, "w")
    X, y, Xt, yt, norm = load_data(args.data, args.root, args.download)
    if args.train_subset:
        X, y = X[:args.train_subset], y[:args.train_subset]
    pictures = Xt  # the raw test images, for the misclassified-digits plot
    # The model takes raw images in [0, 1]: its first layer normalises them, so the saved model, nnx.load +
    # nnx.evaluate, evaluate/predict here and an exported ONNX file all compute the same thing.
    convention = nnx.io.input_metadata(X.shape[1:], None, nnx.datasets.CLASS_NAMES.get(args.data, range(10)),
                                       model=args.model, data=args.data, seed=args.seed,
                                       train_args={k: _plain_arg(getattr(args, k)) for k in RUN_ARGS})
    input_shape = list(X.shape[1:])
    rng = np.random.default_rng(args.seed)
    model = nnx.Sequential(nnx.Normalize(*norm), *getattr(models, args.model)(input_shape, 10, rng=rng))
    lr = OPTIMIZERS[args.optimizer] if args.lr is None else args.lr
    sgd = dict(momentum=args.momentum, nesterov=args.momentum > 0) if args.optimizer == "sgd" else {}
    opt = nnx.optim.make(args.optimizer, model.parameters(), lr=lr, weight_decay=args.weight_decay, **sgd)
    schedule = nnx.optim.CosineAnnealingLR(opt, T_max=args.epochs) if args.schedule == "cosine" else None
    print(f"{args.data}: {len(X)} train / {len(Xt)} test, {args.model} ({model.num_parameters():,} parameters), "
          f"{args.optimizer} lr={lr:g}, backend={nnx.get_backend_name()}, threads={nnx.get_num_threads()}, "
          f"seed={args.seed}" + (f", precision=bf16 ({nnx.precision.bf16_path()})" if args.precision == "bf16" else "")
          + (f", ranks={world} (global batch {args.batch_size * world})" if world > 1 else ""),
          flush=True)
    bar = not args.no_progress and sys.stderr.isatty()
    callbacks = [] if bar else [_EpochPrinter()]
    checkpoint = args.checkpoint or args.resume
    if checkpoint:  # every epoch's end, and Ctrl-C mid-epoch: what --resume continues from
        callbacks.append(_RunCheckpoint(checkpoint, convention))
    history = nnx.fit(model, nnx.SoftmaxCrossEntropy(), opt, (X, y), epochs=args.epochs, val_data=(Xt, yt),
                      batch_size=args.batch_size, schedule=schedule, progress=bar, seed=args.seed,
                      callbacks=callbacks, precision=args.precision, distributed=args.distributed,
                      resume=args.resume)
    from .io.checkpoint import nonfinite
    if (history.stop_reason or "").startswith("non-finite") or nonfinite(model) is not None:
        kept = [p for p in (args.save, checkpoint) if p and os.path.exists(p)]
        raise CLIError(f"training diverged ({history.stop_reason or 'the weights are not finite'}); nothing saved"
                       + (f", {' and '.join(kept)} left as {'it was' if len(kept) == 1 else 'they were'}"
                          if kept else "")
                       + " (lower the learning rate: --lr)")
    with nnx.autocast("bfloat16", enabled=args.precision == "bf16"):  # the accuracy fit reported
        result = nnx.evaluate(model, (Xt, yt))
    if args.save and rank == 0:
        nnx.save(model, args.save, metadata={**convention, "epochs_completed": len(history)})
        print(f"saved {args.save}")
    if args.plots and rank == 0:
        for path in nnx.plot.plot_report(args.plots, history, model, Xt, yt, images=pictures,
                                         class_names=nnx.datasets.CLASS_NAMES.get(args.data)):
            print(f"wrote {path}")
    if history.interrupted:
        print(f"nnx: {history.stop_reason}", file=sys.stderr)
        print(f"test accuracy: {result['accuracy']:.4f}")
        return EXIT_INTERRUPTED
    print(f"test accuracy: {result['accuracy']:.4f}")
    return EXIT_OK


class _RunCheckpoint(Callback):
    """``--checkpoint``: a resumable file (``ModelCheckpoint(save_optimizer=True)``) after every
    epoch and on Ctrl-C, its metadata the run's convention and arguments plus the epochs done."""

    def __init__(self, path, convention):
        from .train.callbacks import ModelCheckpoint
        self.inner = ModelCheckpoint(path, save_best_only=False, save_optimizer=True)
        self.convention = convention

    def _meta(self, trainer):
        self.inner.metadata = {**self.convention, "epochs_completed": len(trainer.history)}

    def on_train_begin(self, trainer):
        self.inner.on_train_begin(trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        self._meta(trainer)
        self.inner.on_epoch_end(trainer, epoch, logs)

    def on_interrupt(self, trainer, epoch, batch):
        self._meta(trainer)
        self.inner.on_interrupt(trainer, epoch, batch)


class _EpochPrinter(Callback):
    """One line per epoch on stdout when there is no progress bar (logs, pipes, CI)."""

    def on_epoch_end(self, trainer, epoch, e):
        print(f"epoch {e['epoch']:3d}  loss {e['loss']:.4f}  acc {e['accuracy']:.4f}  "
              f"val_acc {e['val_accuracy']:.4f}  {e['time']:.1f} s  {e['samples_per_sec']:,.0f} samples/s",
              flush=True)


# -- evaluate / predict ----------------------------------------------------------------------------
def _load_model(path):
    import nnx

    from .io.inputs import check_metadata
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory, not a saved model")
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    model, header = load_with_header(path)
    if isinstance(model, dict) and isinstance(model.get("model"), nnx.Module):
        model = model["model"]  # a checkpoint with the optimizer state (ModelCheckpoint, --checkpoint)
    if not isinstance(model, nnx.Module):
        what = "a state dict" if isinstance(model, dict) else f"a {type(model).__name__}"
        raise CLIError(f"{path}: holds {what}, not a model nnx can rebuild (save a "
                       "Sequential/Graph of built-in layers with nnx.save(model, path))")
    return model, check_metadata(header.get("metadata", {}), path)


def cmd_evaluate(args):
    import nnx

    from .io.inputs import prepare_inputs
    _setup_runtime(args)
    model, meta = _load_model(args.path)
    _, _, Xt, yt, _ = load_data(args.data, args.root, args.download)
    Xt = prepare_inputs(Xt, meta, model, args.path)
    res = nnx.evaluate(model, (Xt, yt), nnx.SoftmaxCrossEntropy(), batch_size=args.batch_size)
    scores = nnx.predict(model, Xt, batch_size=args.batch_size)
    print(f"{args.path} on {args.data} test set ({res['n']} images)")
    print(f"loss: {res['loss']:.4f}")
    print(f"top-2 accuracy: {nnx.metrics.top_k_accuracy(yt, scores, k=2):.4f}")
    names = meta.get("classes")
    print(nnx.metrics.classification_report(yt, scores, num_classes=scores.shape[1],
                                            class_names=[printable(c) for c in names] if names else None))
    print(f"accuracy: {res['accuracy']:.4f}")
    return EXIT_OK


def _image_shape(model, meta, path):
    """(C, H, W) of the pictures the model takes: recorded, or a square greyscale image for an
    MLP whose first layer takes a square number of features (64 -> 8x8, 784 -> 28x28)."""
    from .io.inputs import input_shape
    shape = input_shape(model, meta)
    if shape is not None and len(shape) == 1 and round(shape[0] ** 0.5) ** 2 == shape[0]:
        side = round(shape[0] ** 0.5)
        return (1, side, side)
    if shape is None or len(shape) != 3:
        raise CLIError(f"{path}: cannot tell the image size the model takes (record input_shape, e.g. "
                       "nnx.save(model, path, metadata=nnx.io.input_metadata((1, 28, 28), ...)))")
    return shape


def _is_idx(path):
    from .io.reading import open_regular
    f, _ = open_regular(path, "predict", "picture or IDX file")
    with f:
        head = f.read(4)
    return head[:2] == b"\x1f\x8b" or (len(head) == 4 and head[:2] == b"\0\0" and 0x08 <= head[2] <= 0x0E)


def cmd_predict(args):
    import nnx

    from .io.images import image_to_input
    from .io.inputs import prepare_inputs
    _setup_runtime(args)
    if not os.path.exists(args.input):
        raise CLIError(f"{args.input}: no such file")
    model, meta = _load_model(args.path)
    picture = not _is_idx(args.input)
    if picture:
        raw = image_to_input(args.input, _image_shape(model, meta, args.path), args.invert)
        if args.save_input:
            nnx.io.write_png(args.save_input, raw[0, 0])
            print(f"wrote {args.save_input} (what the model sees)")
        if args.show:
            print("\n".join("".join(" .:-=+*#%@"[min(9, int(v * 10))] * 2 for v in row) for row in raw[0, 0]))
    else:
        images = nnx.io.read_idx(args.input, 3)
        images = images[:args.limit] if args.limit else images
        if images.dtype == np.uint8:  # bytes 0..255; float32 IDX holds raw inputs in [0, 1] as they are
            images = images.astype(np.float32) / np.float32(255)
        elif not np.isfinite(images).all():
            raise CLIError(f"{args.input}: holds values that are not finite")
        raw = images[:, None]
    scores = nnx.predict(model, prepare_inputs(raw, meta, model, args.path))
    prob = nnx.kernels.current().softmax(scores)
    classes = [printable(c) for c in (meta.get("classes") or range(scores.shape[1]))]
    if picture:
        order = np.argsort(-prob[0], kind="stable")
        best = order[0]
        others = ", ".join(f"{classes[k]} ({prob[0, k]:.3f})" for k in order[1:3])
        print(f"{args.input}: {classes[best]} (p={prob[0, best]:.3f}); next: {others}")
    else:
        for i, k in enumerate(prob.argmax(axis=1)):
            print(f"{i}\t{classes[k]}\t{prob[i, k]:.3f}")
    return EXIT_OK


# -- bench / info ----------------------------------------------------------------------------------
def _bench_dir():
    here = Path(__file__).resolve().parent.parent / "bench"
    return here if (here / "report.py").exists() else None


def cmd_bench(args):
    bench = _bench_dir()
    if bench is None:
        raise CLIError("the benchmark suite lives in bench/ of an nnx source checkout; run this from a clone "
                       "installed with `pip install -e .` (see README)")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [sys.executable, "-m", "pytest", str(bench), "-q", "-p", "no:cacheprovider",
               "-o", "python_files=bench_*.py", f"--benchmark-json={out}"]
        select = [] if args.full else ["not e2e"]
        if args.k:
            select.append(f"({args.k})")
        if select:  # pytest keeps only the last -k: combine them
            cmd += ["-k", " and ".join(select)]
        if not args.full:  # quick: every group once, a few rounds each, no end-to-end training runs
            cmd += ["--benchmark-min-rounds=3", "--benchmark-max-time=0.02", "--benchmark-warmup=off"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            if args.debug:
                print(proc.stdout, file=sys.stderr)
            raise CLIError(f"the benchmark run failed (pytest exit {proc.returncode}); rerun with --debug "
                           "to see pytest's output")
        report = subprocess.run([sys.executable, str(bench / "report.py"), out, "--no-notes",
                                 "--source", "python -m nnx bench" + (" --full" if args.full else "")],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if report.returncode != 0:
            raise CLIError(f"bench/report.py failed: {report.stdout.strip()[-300:]}")
        print(report.stdout, end="")
    return EXIT_OK


def cmd_export(args):
    from .io import check_writable
    try:
        check_writable(args.output, "output")
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    model, meta = _load_model(args.path)
    from .io.inputs import input_shape
    shape = input_shape(model, meta)
    if shape is None:
        raise CLIError(f"{args.path}: no input shape recorded (save it with nnx.io.input_metadata)")
    from . import onnx as nnx_onnx  # ImportError naming pip install 'nnx[onnx]' without the extra
    nnx_onnx.export(model, args.output, shape, dynamic_batch=not args.fixed_batch)
    print(f"wrote {args.output} (ONNX opset {nnx_onnx.OPSET}, input 'input' of shape "
          f"[{'1' if args.fixed_batch else 'batch'}, {', '.join(map(str, shape))}])")
    return EXIT_OK


def cmd_info(args):
    from ._info import show_config
    show_config()
    return EXIT_OK


def _setup_runtime(args):
    import nnx
    nnx.tune_malloc()
    if getattr(args, "backend", None):
        nnx.set_backend(args.backend)
    if getattr(args, "threads", None):
        nnx.set_num_threads(args.threads)


# -- parser ----------------------------------------------------------------------------------------
def build_parser():
    from .kernels import BACKENDS
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    runtime = argparse.ArgumentParser(add_help=False)
    runtime.add_argument("--threads", type=_positive_int, default=None,
                         help="threads (default: the usable CPUs that other processes leave idle, "
                              "re-read as the load changes; see docs/threads.md)")
    runtime.add_argument("--backend", choices=BACKENDS, default=None,
                         help="kernel tier (default: cython if built; loops is the slow teaching tier)")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--root", default=None, help="folder with the MNIST IDX files (default: $NNX_DATA_DIR)")
    data.add_argument("--download", action="store_true", help="download missing MNIST files (MD5-checked)")

    p = argparse.ArgumentParser(prog="python -m nnx", parents=[common],
                                description="nnx: train, evaluate and use small neural networks on the CPU.",
                                epilog="exit codes: 0 ok, 1 failed, 2 bad command line, 130 stopped by Ctrl-C")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    t = sub.add_parser("train", parents=[common, runtime, data], help="train a model and report test accuracy",
                       description="Train an MLP or LeNet-5 with nnx.fit; Ctrl-C stops after the current batch "
                                   "(and still saves with --save).")
    t.add_argument("--model", choices=MODELS, default="mlp")
    t.add_argument("--data", choices=DATASETS, default="digits")
    t.add_argument("--epochs", type=_positive_int, default=10, help="default 10")
    t.add_argument("--batch-size", type=_positive_int, default=64, help="default 64")
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", help="default sgd (Nesterov momentum)")
    t.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in OPTIMIZERS.items()) + ")")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    t.add_argument("--weight-decay", type=float, default=0.0, help="default 0")
    t.add_argument("--schedule", choices=["none", "cosine"], default="cosine", help="lr schedule (default cosine)")
    t.add_argument("--seed", type=_nonnegative_int, default=0, help="seed for init, shuffling, dropout (default 0)")
    t.add_argument("--train-subset", type=_positive_int, default=None, help="use only the first N training images")
    t.add_argument("--save", metavar="PATH", default=None, help="save the trained model (.npz) with its metadata")
    t.add_argument("--checkpoint", metavar="PATH", default=None,
                   help="write a resumable checkpoint (model, optimizer, position) after every epoch and on Ctrl-C")
    t.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the run a --checkpoint file was written by (same arguments; --epochs "
                        "is the total); keeps updating that file unless --checkpoint says otherwise")
    t.add_argument("--precision", type=_precision, default="fp32",
                   help="bf16 (or bfloat16): mixed precision, bf16 GEMM/conv operands with float32 sums; "
                        "fp32 (float32) is the default")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: run under mpiexec -n N, --batch-size per rank (needs nnx[mpi])")
    t.add_argument("--plots", metavar="DIR", default=None, help="write curves/confusion/filters PNGs into DIR")
    t.add_argument("--no-progress", action="store_true", help="no progress bar; print one line per epoch")
    t.set_defaults(func=cmd_train, subparser=t)

    e = sub.add_parser("evaluate", parents=[common, runtime, data], help="accuracy and per-class report of a model",
                       description="Evaluate a saved model on a test set.")
    e.add_argument("path", help="a model saved by `train --save` or nnx.save")
    e.add_argument("--data", choices=DATASETS, required=True)
    e.add_argument("--batch-size", type=_positive_int, default=1000)
    e.set_defaults(func=cmd_evaluate, subparser=e)

    r = sub.add_parser("predict", parents=[common, runtime], help="classify a digit picture or an IDX file",
                       description="Classify a picture of one digit (PNG; JPEG and other formats with Pillow), "
                                   "prepared the way MNIST was (background from the border, digit boxed into "
                                   "20/28 of the frame with area averaging, centred by centre of mass), or "
                                   "every image of an IDX file (one line per image: index, class, probability).")
    r.add_argument("path", help="a model saved with its input shape (`train --save`, nnx.io.input_metadata)")
    r.add_argument("input", help="a picture (PNG, JPEG, ...) or an IDX images file (.gz or raw)")
    r.add_argument("--invert", choices=["auto", "yes", "no"], default="auto",
                   help="invert dark ink on light paper (auto: when the picture's border is light)")
    r.add_argument("--show", action="store_true", help="print the input the model sees, as text")
    r.add_argument("--save-input", metavar="PNG", default=None, help="write the input the model sees as a PNG")
    r.add_argument("--limit", type=_positive_int, default=None, help="IDX: only the first N images")
    r.set_defaults(func=cmd_predict, subparser=r)

    b = sub.add_parser("bench", parents=[common], help="run the quick benchmark suite and print the table",
                       description="Run bench/ (pytest-benchmark) quickly and print the markdown table.")
    b.add_argument("--full", action="store_true", help="full timing and the end-to-end training runs (minutes)")
    b.add_argument("-k", default=None, help="only benchmarks matching this pytest -k expression")
    b.set_defaults(func=cmd_bench, subparser=b)

    x = sub.add_parser("export", parents=[common], help="write a saved model as ONNX",
                       description="Write a model saved by nnx as an ONNX file (opset 17) for onnxruntime and "
                                   "other runtimes; needs pip install 'nnx[onnx]'.")
    x.add_argument("path", help="a model saved by `train --save` or nnx.save")
    x.add_argument("output", help="the .onnx file to write")
    x.add_argument("--fixed-batch", action="store_true", help="batch dimension fixed to 1 (default: dynamic)")
    x.set_defaults(func=cmd_export, subparser=x)

    i = sub.add_parser("info", parents=[common], help="the show_config() report",
                       description="Print version, kernel tiers, OpenMP, threads and BLAS.")
    i.set_defaults(func=cmd_info, subparser=i)
    return p


class _PipeSafeStdout:
    """stdout that outlives its reader (``train ... | head``): once the pipe is closed, output
    goes to /dev/null and the command carries on (training finishes and ``--save`` saves)."""

    def __init__(self, stream):
        self._stream = stream

    def _gone(self):
        os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name):
        return getattr(self._stream, name)


#: Options people try that are spelt differently here.
_ALIASES = {"--data-dir": "--root", "--data_dir": "--root", "--output": "--save", "--out": "--save",
            "--num-threads": "--threads", "--lr-schedule": "--schedule", "--bs": "--batch-size"}


def _parse(parser, argv):
    """``parser.parse_args``, but an unknown option is reported by the subcommand it was given
    to (its usage, not the top-level one) with the nearest option it has."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = args.subparser
        known = [o for a in sub._actions for o in a.option_strings]
        hints = []
        for word in extra:
            name = word.split("=", 1)[0]
            near = [_ALIASES[name]] if _ALIASES.get(name) in known else difflib.get_close_matches(name, known, 1)
            if near and name.startswith("-"):
                hints.append(f"{name} (did you mean {near[0]}?)")
            else:
                hints.append(word)
        sub.error("unrecognized arguments: " + " ".join(hints))
    return args


class _Warnings:
    """Warnings as the command line shows them: ``nnx: warning: ...`` on stderr, each text once,
    without Python's source line."""

    def __init__(self):
        self.seen = set()

    def show(self, message, category, filename, lineno, file=None, line=None):
        text = printable(message)
        if text not in self.seen:
            self.seen.add(text)
            print(f"nnx: warning: {text}", file=sys.stderr, flush=True)


def main(argv=None):
    parser = build_parser()
    args = _parse(parser, argv)  # exits with 2 on a bad command line
    with warnings.catch_warnings():
        warnings.showwarning = _Warnings().show
        return _run(args)


def _run(args):
    if not isinstance(sys.stdout, _PipeSafeStdout) and hasattr(sys.stdout, "fileno"):
        try:
            sys.stdout.fileno()
            sys.stdout = _PipeSafeStdout(sys.stdout)
        except (OSError, ValueError, io.UnsupportedOperation):  # captured (pytest, notebooks): leave it
            pass
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("nnx: interrupted", file=sys.stderr)
        _stop_other_ranks("interrupted", EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line for anything; the traceback only with --debug
        if args.debug:
            raise
        expected = isinstance(exc, CLIError | ValueError | TypeError | OSError | ImportError)
        msg = str(exc) if expected and str(exc) else f"{type(exc).__name__}: {exc} (a bug? rerun with --debug)"
        print(f"nnx: error: {printable(msg)}", file=sys.stderr)
        _stop_other_ranks(printable(msg), EXIT_FAIL)
        return EXIT_FAIL


def _stop_other_ranks(reason, code):
    """Under mpiexec, an error this rank reports would leave the others waiting in their next
    collective call for ever (and this one in MPI_Finalize): end the whole job, naming the rank."""
    dist = sys.modules.get("nnx.distributed")
    if dist is not None:
        dist.abort(reason, code)


def printable(text):
    """``text`` with control characters (terminal escapes from a file's metadata) shown as '?'."""
    return "".join(ch if ch.isprintable() else "?" for ch in str(text))
