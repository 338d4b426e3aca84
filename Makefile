# normdeploy: two commands do everything on a fresh Debian machine:
#   make demo    set up, build, and run the built-in demo
#   make test    set up, build, and run the test suite
# Set-up (venv, pinned dependencies, ONNX Runtime headers, build+install) runs only when its
# inputs change, so a second run with nothing changed goes straight to the work.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMPS := $(VENV)/.normdeploy-stamps
NATIVE_SOURCES := $(shell find plugins -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.inc' -o -name '*.cu' -o -name '*.cuh' \) 2>/dev/null)
PY_SOURCES := $(shell find normdeploy -type f -name '*.py' 2>/dev/null)
PYTEST_ARGS ?=
PYTRITON := nvidia-pytriton==0.7.0
PYTORCHCV := pytorchcv==0.0.74

.PHONY: all setup install test test-sanitize fuzz demo bench headers dist clean distclean help gpu-check

all: install

help:
	@echo "make demo | make test | make test-sanitize | make fuzz | make bench | make install | make headers | make dist | make gpu-check | make clean"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip

$(STAMPS)/deps: requirements-dev.txt | $(PY)
	@mkdir -p $(STAMPS)
	$(PIP) install --quiet -r requirements-dev.txt
	# the Triton server binary for tests/test_triton.py; --no-deps: the wheel declares numpy<2,
	# but we use only the tritonserver it bundles, which runs with numpy 2
	$(PIP) install --quiet --no-deps $(PYTRITON)
	# AlexNet/ZFNet for tests/test_zoo.py; --no-deps: the wheel declares torchvision, whose PyPI
	# wheel is CUDA-built and does not import with the CPU torch (pytorchcv's models do not need it)
	$(PIP) install --quiet --no-deps $(PYTORCHCV)
	@touch $@

# Writes the folder holding the ONNX Runtime headers into the stamp.
$(STAMPS)/ort-headers: scripts/get_ort_headers.sh | $(PY)
	@mkdir -p $(STAMPS)
	bash scripts/get_ort_headers.sh | tail -n 1 > $@.tmp && mv $@.tmp $@
	@echo "ONNX Runtime headers: $$(cat $@)"

headers: $(STAMPS)/ort-headers

$(STAMPS)/install: $(STAMPS)/deps $(STAMPS)/ort-headers $(NATIVE_SOURCES) $(PY_SOURCES) CMakeLists.txt pyproject.toml
	ONNXRUNTIME_ROOT="$$(cat $(STAMPS)/ort-headers)" PATH="$(abspath $(VENV))/bin:$$PATH" \
	  $(PIP) install --quiet --no-build-isolation --no-deps .
	@touch $@

install setup: $(STAMPS)/install

# An sdist and a wheel in dist/ (scripts/dist.sh): the wheel holds the runtime libraries only, is
# built in build/dist and gets the manylinux tag its libraries satisfy (scripts/wheel_tag.py).
# DIST_ARGS adds pip config settings, e.g. for libnormdeploy_trt.so:
#   make dist DIST_ARGS="-C cmake.define.NORMDEPLOY_CUDA=ON -C cmake.define.TENSORRT_ROOT=/opt/tensorrt"
DIST_ARGS ?=
dist: $(STAMPS)/deps $(STAMPS)/ort-headers
	ONNXRUNTIME_ROOT="$$(cat $(STAMPS)/ort-headers)" PYTHON=$(PY) bash scripts/dist.sh dist $(DIST_ARGS)
	@ls -l dist/

test: $(STAMPS)/install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The C++ built with AddressSanitizer + UndefinedBehaviorSanitizer (build/sanitize), the native
# test suites run against it (scripts/test_sanitize.sh). .ci/run runs it after `make test`.
test-sanitize: $(STAMPS)/install
	VENV=$(VENV) bash scripts/test_sanitize.sh $(PYTEST_ARGS)

# The long fuzzing campaign (make test runs each fuzzer briefly): FUZZ_SECONDS per target for the
# C++ targets (fuzz/run.py: TensorRT fields + plugin deserialization, ONNX Runtime attribute
# parsing) and the ONNX-file fuzzer (atheris), new coverage merged into fuzz/corpus/; then the
# hypothesis fuzz tests with 5,000 examples each.
FUZZ_SECONDS ?= 600
fuzz: $(STAMPS)/install
	ONNXRUNTIME_ROOT="$$(cat $(STAMPS)/ort-headers)" $(PY) fuzz/run.py --seconds $(FUZZ_SECONDS) --corpus-out
	@mkdir -p build/fuzz
	$(PY) -P fuzz/fuzz_onnx_model.py -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/onnx- fuzz/corpus/fuzz_onnx_model
	HYPOTHESIS_PROFILE=long $(VENV)/bin/pytest -q tests/test_fuzz_ort.py

demo: $(STAMPS)/install
	$(PY) -P -m normdeploy.demo

bench: $(STAMPS)/install
	$(PY) -P benchmarks/bench_ort.py
	$(PY) -P benchmarks/bench_models.py

# The GPU test binary of the CUDA kernels (README "GPU check"): nvcc for one architecture,
# GPU_ARCH (default 90: H100/H200), CUDA runtime linked statically, into build/gpu-check/nd_gpu_check.
# Needs only nvcc (no venv); carry build/gpu-check to a machine with a GPU and run it there.
GPU_ARCH ?= 90
gpu-check:
	bash scripts/gpu_check.sh $(GPU_ARCH)

clean:
	rm -rf build $(STAMPS)

distclean: clean
	rm -rf $(VENV) third_party/onnxruntime dist
