"""Special tokens as the model expects them: where the tokenizer adds a BOS token (Gemma,
Llama-family), every sequence an LM path runs from its start begins with it; where it adds none
(GPT-2, SmolLM2), nothing is added. Positions the callers see are their own tokens either way."""

import pytest
import torch

from icl_study.lm import data, icl
from icl_study.lm.activations import last_token_activations
from icl_study.lm.finetune import example_loss
from icl_study.lm.models import load_lm


def _llama_dir(path, add_bos: bool):
    """A 2-layer random Llama whose tokenizer config does (or does not) put <s> in front of a text."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [e.text for e in data.load_examples(data.TextTaskConfig(source="mr"))[:200]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts + ["Sentiment: positive negative"] * 20, vocab_size=300,
                            special_tokens=["<s>"], show_progress=False)
    if add_bos:
        bpe._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bpe.token_to_id("<s>"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>")
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         bos_token_id=bpe.token_to_id("<s>"))
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {add: load_lm(f"hf:{_llama_dir(tmp_path_factory.mktemp(f'bos{int(add)}'), add)}") for add in (True, False)}


def _first_tokens(lm):
    """Record the first input id of every forward pass of the model that starts a sequence."""
    seen = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if kwargs.get("cache") is None and kwargs.get("past_key_values") is None:
            seen.append(ids[:, 0].tolist())
    return seen, lm.model.model.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("add_bos", [True, False])
def test_every_lm_path_starts_with_bos_exactly_when_the_tokenizer_adds_one(models, add_bos):
    lm = models[add_bos]
    bos = lm.tokenizer.convert_tokens_to_ids("<s>")
    assert lm.bos == ([bos] if add_bos else [])
    task = data.TextTaskConfig(source="mr")
    examples = data.load_examples(task)[:12]
    demos, queries = examples[:4], examples[4:8]
    seen, handle = _first_tokens(lm)
    try:
        icl.predict(lm, task, demos, queries)  # ICL scoring: the prefix's cache
        icl.predict(lm, task, [], queries)  # zero-shot: no prefix at all
        icl.predict(lm, task, demos, queries, use_cache=False)  # full recompute
        lm.logits_after_batch(None, 0, [[5, 6], [7]])  # batched, no prefix
        query = lm.encode(data.format_example(task, queries[0], False))
        last_token_activations(lm, query, full=True)  # Dai's activations
        example_loss(lm, query, 3)  # finetuning and Shen's GD
    finally:
        handle.remove()
    firsts = [token for batch in seen for token in batch]
    assert len(seen) >= 6 and len(firsts) >= len(seen)
    if add_bos:
        assert set(firsts) == {bos}
    else:
        assert bos not in firsts and lm.encode(" negative")[0] != bos


def test_bos_positions_are_hidden_and_the_cache_matches_a_full_forward(models):
    """With BOS, logits and activations over the caller's tokens equal one raw forward over BOS +
    tokens with its position dropped; after a cached prefix they equal the full forward."""
    lm = models[True]
    prefix, query = [5, 9, 17, 3, 40], [7, 8, 2]
    raw = lm.model(input_ids=torch.tensor([lm.bos + prefix + query])).logits[0, 1:]
    torch.testing.assert_close(lm.logits(torch.tensor([prefix + query]))[0], raw)
    full = last_token_activations(lm, prefix + query, full=True)
    assert full["scores"].shape[-1] == len(prefix + query) and full["x"].shape[1] == len(prefix + query)
    cache = lm.prefix_cache(prefix)
    for _ in range(2):  # the second call sees the cropped cache
        cached = last_token_activations(lm, query, cache=cache, full=True)
        for name in ("attn_out", "q", "scores", "logits", "k", "v"):
            torch.testing.assert_close(cached[name], full[name], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(cached["x"], full["x"][:, -len(query):], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(lm.logits_after(lm.prefix_cache(prefix), len(prefix), query), raw[-1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(lm.logits_after(None, 0, query),
                               lm.model(input_ids=torch.tensor([lm.bos + query])).logits[0, -1], atol=1e-5, rtol=1e-4)
