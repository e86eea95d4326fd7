"""Pins how a user's labelled text file is read: every bad row stops
with one line naming the file and the line, instead of a traceback or silent damage (empty text
read as "nan", label 1.7 read as 1)."""

from __future__ import annotations

import pytest

from icl_study.config import DataError
from icl_study.lm.data import load_examples, task_config


def load(tmp_path, content: bytes | str, source: str = "csv"):
    path = tmp_path / f"data.{source}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return load_examples(task_config({"source": source, "path": str(path)}))


def test_good_csv_and_jsonl_are_read(tmp_path):
    csv_examples = load(tmp_path, 'text,label\ngood film,1\n"bad, ""really""\nbad",0\n')
    assert [(e.text, e.label) for e in csv_examples] == [("good film", 1), ('bad, "really" bad', 0)]
    jsonl = load(tmp_path, '{"text": "good", "label": 1}\n\n{"text": "bad", "label": 0}\n', "jsonl")
    assert [(e.text, e.label) for e in jsonl] == [("good", 1), ("bad", 0)]


@pytest.mark.parametrize("content, message", [
    ("text,label\ngood,1\nbad,\n", "line 3: label '' is not a class index"),  # NaN label
    ("text,label\ngood,1\nbad,negative\n", "line 3: label 'negative' is not a class index"),
    ("text,label\ngood,1\nbad,1.7\n", "line 3: label '1.7' is not a class index"),  # was read as 1
    ("text,label\ngood,1\n,0\n", "line 3: text is empty"),  # was read as the text "nan"
    ("text,label\ngood,1\nbad,0,extra\n", "line 3: 3 fields, the header has 2"),  # ragged row
    (b"text,label\ngood,1\nbad \xff,0\n", "line 3: not UTF-8"),
    ("review,stars\ngood,1\n", "needs columns text and label"),
])
def test_bad_csv_row_is_one_line_naming_file_and_line(tmp_path, content, message):
    with pytest.raises(DataError) as err:
        load(tmp_path, content)
    assert str(tmp_path / "data.csv") in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content, message", [
    ('{"text": "good", "label": 1}\n{"text": "bad", "label": 0.5}\n', "line 2: label 0.5 is not a class index"),
    ('{"text": "good", "label": 1}\nnot json\n', "line 2: not a JSON object"),
    ('{"text": "good", "label": 1}\n{"label": 0}\n', "line 2: needs keys text and label"),
])
def test_bad_jsonl_line_is_named(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load(tmp_path, content, "jsonl")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nosuch.csv: cannot read"):
        load_examples(task_config({"source": "csv", "path": str(tmp_path / "nosuch.csv")}))
