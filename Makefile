# Set-up and everyday commands. Every target builds what it needs first:
# a project venv (.venv) with pinned torch, DALI and the build tools, then
# fastkp itself, compiled against that torch (no build isolation).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# GPU architectures for the CUDA kernels; empty = CMakeLists.txt's release list.
CUDA_ARCHS ?=
CMAKE_ARGS := $(if $(CUDA_ARCHS),-Ccmake.define.FASTKP_CUDA_ARCHS=$(CUDA_ARCHS))
PYTEST_ARGS ?=

STAMP := $(VENV)/.fastkp-installed
SOURCES := pyproject.toml CMakeLists.txt $(shell find csrc -type f 2>/dev/null)

.PHONY: install test test-all bench train gpu-check clean

install: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# fastkp-infer (the C++ inference program) decodes JPEGs and PNGs with the system
# libjpeg-turbo and libpng: install their headers when missing (Debian/Ubuntu).
JPEG_HEADER := /usr/include/jpeglib.h
PNG_HEADER := /usr/include/png.h
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

$(JPEG_HEADER): DEV_PACKAGE := libjpeg-dev
$(PNG_HEADER): DEV_PACKAGE := libpng-dev
$(JPEG_HEADER) $(PNG_HEADER):
	@command -v apt-get >/dev/null || { echo "fastkp-infer needs $(notdir $@) (Debian: $(DEV_PACKAGE)); install it"; exit 1; }
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y --no-install-recommends $(DEV_PACKAGE)

$(STAMP): $(VENV)/bin/python $(SOURCES) | $(JPEG_HEADER) $(PNG_HEADER)
	$(PY) -m pip install "torch==2.14.1" "torchvision==0.29.1" "scikit-build-core>=0.10" "cmake>=3.30" ninja
	$(PY) -m pip install --no-build-isolation $(CMAKE_ARGS) -e ".[dali,test]"
	touch $@

test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pytest benchmarks -o python_files="bench_*.py" --import-mode=prepend --benchmark-only --benchmark-columns=min,median,mean,rounds $(PYTEST_ARGS)

# make train ARGS="--out runs/x --epochs 3": extra flags for python -m fastkp.train
train: $(STAMP)
	$(PY) -m fastkp.train --amp $(ARGS)

# On a GPU machine, without the venv: build against the torch there, run the CUDA tests,
# measure (README, "GPU check"). make gpu-check OUT=DIR [GPU_CHECK_ARGS="--dry-run"]
gpu-check:
	tools/gpu_check.sh $(GPU_CHECK_ARGS) $(OUT)

clean:
	rm -rf build $(VENV)
