# `make quickstart` installs (once) and builds recipes/quickstart.yaml end to end.
# `make test` installs (once; chromium too), lints (ruff) and runs the test suite; .ci/run calls it.
.PHONY: install quickstart test bench clean

install:
	bash scripts/install.sh

quickstart: install
	.venv/bin/synth build recipes/quickstart.yaml

test:
	bash scripts/install.sh --test-tools
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q

clean:
	rm -rf synth-data
