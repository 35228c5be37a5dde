# Every target bootstraps .venv from the pinned requirements on first use.
ENV ?= dev
BASE ?= origin/main
ENVS := $(patsubst environments/Pulumi.%.yaml,%,$(wildcard environments/Pulumi.*.yaml))
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: preview test lint unit previews jobs servers golden bench diff env clean status smoke
FROM ?= prod

# The variables a user sets (ENV NAME FROM PROJECT LEVELS MODEL REVISION BASE ARGS) reach the shell unquoted, so a recipe
# takes each through `checked` (ARGS through `checked_args`) before any shell sees it: its text as typed
# ($(value): a `$(shell ...)` in it is never expanded) must be one word of these characters, not starting
# with `-` (ARGS: words that may), else make stops with one line naming the variable, and exit 2.
WORD_CHARS := a b c d e f g h i j k l m n o p q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V W X Y Z \
	0 1 2 3 4 5 6 7 8 9 . _ / @ : -
# $(1) with every character of the list $(2) removed: empty when $(1) holds only those characters.
without = $(if $(2),$(call without,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
# The value of variable $(1) if it is one word of WORD_CHARS (and the characters $(3)) not starting with -;
# $(2) is an example of a good value for the message.
checked = $(if $(and $(filter 1,$(words $(value $(1)))),$(if $(filter -%,$(value $(1))),,ok),$(if \
	$(call without,$(value $(1)),$(WORD_CHARS) $(3)),,ok)),$(value $(1)),$(error $(1)='$(value $(1))' is refused: \
	give one word of letters, digits and . _ / @ : -$(if $(3), $(3)), not starting with -, e.g. $(1)=$(2)))
checked_args = $(if $(strip $(call without,$(value ARGS),$(WORD_CHARS) =)),$(error ARGS='$(value ARGS)' is refused: give \
	options made of letters, digits and . _ / @ : = -, e.g. ARGS="--json --wait 30m"),$(value ARGS))

$(STAMP): requirements.txt requirements-dev.txt policies/requirements.txt
	@echo "setting up .venv: Pulumi, the GCP and Kubernetes provider SDKs, pytest, ruff and mypy from the pinned"
	@echo "  requirements (~900 MB installed; usually 2-4 minutes on a fresh machine, under a minute with a warm pip cache)"
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## preview: offline preview of ENV (default dev): tree, policies, cost; build/$(ENV)/
preview: $(STAMP)
	$(PY) -m preview $(call checked,ENV,dev)

## test: lint, type-check, unit tests, a preview of every environment, and the Jobs run as the cluster runs them;
## prints its wall time at the end (budget: 5 minutes on two cores)
test: $(STAMP)
	@started=$$(date +%s); $(MAKE) --no-print-directory lint unit previews jobs; status=$$?; \
		elapsed=$$(( $$(date +%s) - started )); \
		echo "make test: $$( [ $$status = 0 ] && echo passed || echo FAILED ) in $$(( elapsed / 60 ))m$$(( elapsed % 60 ))s \
		(budget 5m00s)"; exit $$status

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	PATH="$$PWD/.venv/bin:$$PATH" .venv/bin/actionlint

# -n auto: one pytest worker per core (pytest-xdist); the `jobs` marker stays deselected by pyproject's addopts.
unit: $(STAMP)
	$(PY) -m pytest -n auto

# The mirror Jobs' hash-pinned packages, for this machine's Python: tests/jobs installs them from here as the
# pods install them from PyPI (same lock, --require-hashes).
WHEELHOUSE := .cache/wheelhouse
$(WHEELHOUSE)/.done: loads/scripts/requirements-mirror.txt loads/scripts/requirements-fill.txt $(STAMP)
	@echo "wheelhouse: downloading the mirror Jobs' pinned packages for this Python and for the pods' 3.12 (~30 MB, usually under a minute)"
	PIP_CONFIG_FILE=/dev/null $(PY) -m pip download --quiet --require-hashes --no-deps --only-binary=:all: \
		-r loads/scripts/requirements-mirror.txt -d $(WHEELHOUSE)
	@# The pods run python:3.12 (Debian bookworm, glibc 2.36): every pin must resolve there too, with its hashes.
	PIP_CONFIG_FILE=/dev/null $(PY) -m pip download --quiet --require-hashes --no-deps --only-binary=:all: \
		--python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
		--platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform any \
		-r loads/scripts/requirements-mirror.txt -d $(WHEELHOUSE)-py312
	touch $@

## job-locks: recompile the mirror Jobs' hash-pinned package locks from loads/scripts/requirements-*.in
.PHONY: job-locks
PIP_TOOLS := .cache/venv-pip-tools/bin/pip-compile
$(PIP_TOOLS):
	@echo "job-locks: installing pip-tools 7.7.0 into .cache/venv-pip-tools (~10 s)"
	python3 -m venv .cache/venv-pip-tools
	PIP_CONFIG_FILE=/dev/null .cache/venv-pip-tools/bin/pip install --quiet pip-tools==7.7.0
job-locks: $(PIP_TOOLS)
	@for job in mirror fill; do \
		PIP_CONFIG_FILE=/dev/null $(PIP_TOOLS) --quiet --generate-hashes --allow-unsafe --strip-extras --no-header --no-emit-find-links \
			-o .cache/requirements-$$job.txt loads/scripts/requirements-$$job.in || exit 1; \
		{ echo "# The $$job Job's Python packages, every one pinned with its hashes: pip install --require-hashes --no-deps."; \
		  echo "# Compiled by \`make job-locks\` (pip-tools 7.7.0, pip-compile --generate-hashes) from requirements-$$job.in: never edit."; \
		  echo; cat .cache/requirements-$$job.txt; } > loads/scripts/requirements-$$job.txt; \
	done

.PHONY: wheelhouse
wheelhouse: $(WHEELHOUSE)/.done

## jobs: the mirror and fill Jobs and the wait container under bubblewrap (read-only root, uid 65534) against a
## Cloud Storage emulator and the fixture Hub
jobs: $(STAMP) $(WHEELHOUSE)/.done
	@command -v bwrap >/dev/null || { echo "make jobs needs bubblewrap: apt-get install bubblewrap" >&2; exit 2; }
	$(PY) -m pytest -m jobs tests/jobs

## servers: every rendered vLLM and SGLang command, LoRA flags included, parsed by the pinned servers' own parsers
# vllm 0.33.0 and sglang 0.5.23 (catalog/servers.yaml) import on a CPU-only machine in a venv of their own under
# the ignored .cache/: vLLM from its pip-freeze lock (torch and its nvidia-* wheels included: torch does not
# import without them), SGLang --no-deps over it (its own pins conflict with vLLM's; its argument parser needs
# only what the lock holds). Measured on two cores: cold install (pip --no-cache-dir) 4m28s, warm (pip cache)
# 4m30s (unpacking torch and the nvidia-* wheels is the cost, not the download); 9.7 GB installed; the tests
# 17 s (one python run parses every command). The lock was frozen on Python 3.11, this machine's and CI's
# python3 (the sglang wheel pip takes here is cp311-cp311).
SERVERS_VENV := .cache/venv-servers
SERVERS_STAMP := $(SERVERS_VENV)/.installed
$(SERVERS_STAMP): tests/servers/requirements.txt tests/servers/requirements-sglang.txt
	@echo "servers: installing vllm 0.33.0 and sglang 0.5.23 into $(SERVERS_VENV) (~10 GB with torch's CUDA wheels;"
	@echo "  about 4-5 minutes, with or without a warm pip cache)"
	rm -rf $(SERVERS_VENV)
	python3 -m venv $(SERVERS_VENV)
	PIP_CONFIG_FILE=/dev/null $(SERVERS_VENV)/bin/pip install --quiet -r tests/servers/requirements.txt
	PIP_CONFIG_FILE=/dev/null $(SERVERS_VENV)/bin/pip install --quiet --no-deps -r tests/servers/requirements-sglang.txt
	touch $@

servers: $(STAMP) $(SERVERS_STAMP)
	$(PY) -m pytest -m servers tests/servers

previews: $(STAMP)
	@for env in $(ENVS); do $(PY) -m preview $$env --quiet || exit 1; done

## golden: regenerate tests/golden/<env>/ from the current program (review the diff like code)
golden: $(STAMP)
	$(PY) -m tests.golden

## env: a new environment NAME from FROM (default prod) in GCP project PROJECT (asked for when not given):
## its environment file and policy config, every policy mandatory (LEVELS=source keeps FROM's levels)
env: $(STAMP)
	$(PY) -m tools.new_environment $(call checked,NAME,qa) --from $(call checked,FROM,prod)$(if $(value PROJECT), \
		--project $(call checked,PROJECT,acme-ml-qa))$(if $(value LEVELS), --levels $(call checked,LEVELS,source))

## model: catalog entry for MODEL from the Hub at REVISION (default main), and the commit to pin
.PHONY: model
model: $(STAMP)
	$(PY) -m tools.model_entry $(call checked,MODEL,BAAI/bge-m3) --revision $(if $(value REVISION),$(call checked,REVISION,main),main) $(if $(value FORCE),--force)

## bench: preview wall time and memory for 10/50/200 services against the bare mock engine
bench: $(STAMP)
	$(PY) -m bench

## diff: per-object diff of ENV's rendered manifests between BASE and the working tree
diff: $(STAMP)
	$(PY) -m tools.manifest_diff --env $(call checked,ENV,prod) --base $(call checked,BASE,origin/main,~ ^)

## status: ENV's model servers after a deploy: rollouts, why a pod is not ready, GPU nodes (ARGS="--json --wait 30m")
status: $(STAMP)
	$(PY) -m tools.status $(call checked,ENV,prod) $(checked_args)

## smoke: one authenticated request per service of ENV through its gateway (keys never printed)
smoke: $(STAMP)
	$(PY) -m tools.smoke $(call checked,ENV,prod) $(checked_args)

## checkov: checkov over the rendered prod manifests; fails on any check .checkov.yaml does not allow
# checkov pins packaging<24, which requirements-dev.txt does not allow: it gets a venv of its own, under the
# ignored .cache/ (the tests that scan the tree skip it; make clean removes it).
CHECKOV_VENV := .cache/venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
.PHONY: checkov
$(CHECKOV):
	@echo "checkov: installing checkov 3.3.30 into $(CHECKOV_VENV) (~400 MB; usually 1-2 minutes, once)"
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30

# --skip-download: checkov otherwise fetches its guidelines from its vendor's API on every run (a traceback offline).
checkov: $(STAMP) $(CHECKOV)
	$(PY) -m preview prod --quiet
	$(CHECKOV) --skip-download --config-file .checkov.yaml -d build/prod/manifests

clean:
	rm -rf build .venv .venv-checkov .cache .pytest_cache .mypy_cache .ruff_cache
