# Every target bootstraps .venv from the pinned requirements on first use.
ENV ?= dev
BASE ?= origin/main
ENVS := $(patsubst environments/Pulumi.%.yaml,%,$(wildcard environments/Pulumi.*.yaml))
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: preview test lint unit previews jobs golden bench diff env clean status smoke
FROM ?= dev

$(STAMP): requirements.txt requirements-dev.txt policies/requirements.txt
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## preview: offline preview of ENV (default dev): tree, policies, cost; build/$(ENV)/
preview: $(STAMP)
	$(PY) -m preview $(ENV)

## test: lint, type-check, unit tests, a preview of every environment, and the Jobs run as the cluster runs them
test: lint unit previews jobs

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	PATH="$$PWD/.venv/bin:$$PATH" .venv/bin/actionlint

unit: $(STAMP)
	$(PY) -m pytest

# The mirror Jobs' hash-pinned packages, for this machine's Python: tests/jobs installs them from here as the
# pods install them from PyPI (same lock, --require-hashes).
WHEELHOUSE := .cache/wheelhouse
$(WHEELHOUSE)/.done: loads/scripts/requirements-mirror.txt loads/scripts/requirements-fill.txt $(STAMP)
	@echo "wheelhouse: downloading the mirror Jobs' pinned packages (~15 MB, usually under a minute)"
	PIP_CONFIG_FILE=/dev/null $(PY) -m pip download --quiet --require-hashes --no-deps --only-binary=:all: \
		-r loads/scripts/requirements-mirror.txt -d $(WHEELHOUSE)
	touch $@

.PHONY: wheelhouse
wheelhouse: $(WHEELHOUSE)/.done

## jobs: the mirror and fill Jobs and the wait container under bubblewrap (read-only root, uid 65534) against a
## Cloud Storage emulator and the fixture Hub
jobs: $(STAMP) $(WHEELHOUSE)/.done
	@command -v bwrap >/dev/null || { echo "make jobs needs bubblewrap: apt-get install bubblewrap" >&2; exit 2; }
	$(PY) -m pytest -m jobs tests/jobs

previews: $(STAMP)
	@for env in $(ENVS); do $(PY) -m preview $$env --quiet || exit 1; done

## golden: regenerate tests/golden/<env>/ from the current program (review the diff like code)
golden: $(STAMP)
	$(PY) -m tests.golden

## env: a new environment NAME from FROM (default dev): its environment file and policy config
env: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make env NAME=<name> [FROM=dev]" >&2; exit 2; }
	$(PY) -m tools.new_environment $(NAME) --from $(FROM)

## model: catalog entry for MODEL from the Hub at REVISION (default main), and the commit to pin
.PHONY: model
model: $(STAMP)
	@test -n "$(MODEL)" || { echo "usage: make model MODEL=<org/name> [REVISION=<branch|tag|commit>] [FORCE=1]" >&2; exit 2; }
	$(PY) -m tools.model_entry $(MODEL) --revision $(or $(REVISION),main) $(if $(FORCE),--force)

## bench: preview wall time and memory for 10/50/200 services against the bare mock engine
bench: $(STAMP)
	$(PY) -m bench

## diff: per-object diff of ENV's rendered manifests between BASE and the working tree
diff: $(STAMP)
	$(PY) -m tools.manifest_diff --env $(ENV) --base $(BASE)

## status: ENV's model servers after a deploy: rollouts, why a pod is not ready, GPU nodes (ARGS="--json --wait 30m")
status: $(STAMP)
	$(PY) -m tools.status $(ENV) $(ARGS)

## smoke: one authenticated request per service of ENV through its gateway (keys never printed)
smoke: $(STAMP)
	$(PY) -m tools.smoke $(ENV) $(ARGS)

## checkov: checkov over the rendered prod manifests; fails on any check .checkov.yaml does not allow
# checkov pins packaging<24, which requirements-dev.txt does not allow: it gets a venv of its own.
CHECKOV := .venv-checkov/bin/checkov
.PHONY: checkov
$(CHECKOV):
	python3 -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet checkov==3.3.30

checkov: $(STAMP) $(CHECKOV)
	$(PY) -m preview prod --quiet
	$(CHECKOV) --config-file .checkov.yaml -d build/prod/manifests

clean:
	rm -rf build .venv .venv-checkov .cache .pytest_cache .mypy_cache .ruff_cache
