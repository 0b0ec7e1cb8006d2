# Two commands: `make demo` (install + run the whole workflow on the synthetic demo data)
# and `make test` (install + run the test suite). Installation is idempotent: a stamp file
# records that .venv matches the requirement files, so a second run takes seconds.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: install demo test test-fast test-learning clean-results

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip uninstall -q -y opencv-python 2>/dev/null || true
	$(BIN)/python -c "import torch, torchvision, dlib, av, cv2, face_alignment, pipeline; assert torch.__version__.startswith('2.14.1'), torch.__version__"
	touch $(STAMP)

demo: install
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo
	@echo "Demo finished. Results:"
	@echo "  tables:  results/tables/tables.md (Markdown, plus .tex and .csv per table)"
	@echo "  figures: results/figures/ (figure4_tsne.png, figure5_gradcam.png), loss curves in results/train/"
	@echo "  metrics: results/metrics.csv (tidy), preprocessing reports: results/preprocess/*/report.csv"
	@echo "  report:  results/report.html"

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder  # two workers, slowest files first (conftest.py)

test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow"  # all but the tests marked slow

test-learning: install
	$(BIN)/python -m pytest -m learning  # every registered detector learns the demo (~30 min on 2 cores)

clean-results:
	rm -rf results .snakemake
