"""Test-wide settings: one torch thread (tiny models are overhead-bound; two threads are slower),
each test's kind as a marker from its folder, the tiny random GPT-2 the LM tests share, and the one
end-to-end run of the tiny tier that the workflow, docs and lenses tests share."""

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Rules run `python -m icl_study ...`: make that `python` this interpreter, so the workflow tests
# use the environment under test even when its venv is not activated (e.g. `.venv/bin/python -m pytest`).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# tests/<kind>/test_*.py; each kind is a marker registered in pyproject.toml (`pytest -m unit`).
KINDS = ("unit", "model", "workflow", "cluster")
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Mark each test with its folder's kind. A test marked with another kind by hand keeps only
    that one (a Snakemake dry run next to the pure checks it mirrors is a workflow test)."""
    for item in items:
        path = Path(item.path).resolve()
        if not path.is_relative_to(TESTS):
            continue
        kind = path.relative_to(TESTS).parts[0]
        if kind not in KINDS:
            raise pytest.UsageError(f"{path}: a test file belongs in one of tests/{{{','.join(KINDS)}}}/")
        if not any(item.get_closest_marker(k) for k in KINDS):
            item.add_marker(kind)


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    """A 2-layer random GPT-2 with a byte-level BPE trained on a few MR sentences, saved to disk."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from icl_study.lm import data

    path = tmp_path_factory.mktemp("tiny_gpt2")
    mr = data.TextTaskConfig(source="mr")
    texts = [e.text for e in data.load_examples(mr)[:2000]] + ["Sentiment: positive negative"] * 50
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=600, min_frequency=2, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=2048, n_embd=32, n_layer=2, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One end-to-end run of the whole default DAG on the tiny config (a working directory)."""
    from workflow_helpers import snakemake

    workdir = tmp_path_factory.mktemp("workflow")
    snakemake(workdir, "--cores", "2")
    return workdir
