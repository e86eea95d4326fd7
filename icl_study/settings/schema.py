"""The config's JSON schema and its reference page, generated from the settings dataclasses.

Each key is declared once, as a dataclass field (icl_study/settings/<section>.py, config.py's
ModelConfig and TrainConfig, tasks/configs.py's task configs): its type hint gives the JSON type,
its default the default, the comment beside it (or the comment lines just above it) the doc, and
its `field(metadata=...)` the range. Torch-free: Snakemake builds the schema at parse time. It
imports nothing of icl_study.settings: the sections come in (icl_study.settings.SECTIONS).

Field metadata (all optional), distributed by the JSON type it applies to:
- numbers: minimum, exclusiveMinimum, maximum, exclusiveMaximum;
- strings: enum, pattern, minLength;
- lists (tuple[X, ...]): minItems, maxItems (every list is uniqueItems, as `from_dict` checks);
  the other keys apply to the items, or `items` gives the items' own metadata;
- mappings (`dict` fields): `block` (a dataclass: the mapping holds some of its keys; `required`
  names those it must hold, "all" for every one, `omit` those it may not, or `keys` the only ones
  it may, and `ranges` tightens a key's metadata there), or `values` (a dataclass or type hint: the
  mapping's values, by name, `required` as for a block; `names` is the names' pattern,
  minProperties the fewest). A nested dataclass field holds every key of its class.

Regenerate the reference page with `python -m icl_study.settings --markdown > docs/config.md`.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import json
import textwrap
import tokenize
import types
import typing

NUMBER_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
STRING_KEYS = ("enum", "pattern", "minLength")
ARRAY_KEYS = ("minItems", "maxItems")
OBJECT_KEYS = ("minProperties",)


def _pick(meta: typing.Mapping, keys: tuple[str, ...]) -> dict:
    return {key: meta[key] for key in keys if key in meta}


def _hints(cls: type) -> dict[str, typing.Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def node(hint: typing.Any, meta: typing.Mapping = types.MappingProxyType({})) -> dict:
    """The JSON schema of a value with type hint `hint` and field metadata `meta`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        alternatives = [node(arg, meta) for arg in args if arg is not type(None)]
        if type(None) in args:
            alternatives.insert(0, {"type": "null"})
        return alternatives[0] if len(alternatives) == 1 else {"oneOf": alternatives}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer", **_pick(meta, NUMBER_KEYS)}
    if hint is float:
        return {"type": "number", **_pick(meta, NUMBER_KEYS)}
    if hint is str:
        if "enum" in meta:
            return {"enum": list(meta["enum"])}
        return {"type": "string", **_pick(meta, STRING_KEYS)}
    if origin is tuple:
        items = meta.get("items", {key: value for key, value in meta.items() if key not in ARRAY_KEYS})
        return {"type": "array", "uniqueItems": True, **_pick(meta, ARRAY_KEYS), "items": node(args[0], items)}
    if dataclasses.is_dataclass(hint):
        return object_node(hint, required="all")
    if hint is dict or origin is dict:
        if "block" in meta:
            block = meta["block"]
            omit = meta.get("omit", ())
            if "keys" in meta:
                omit = tuple(f.name for f in dataclasses.fields(block) if f.name not in meta["keys"])
            return object_node(block, meta.get("required", ()), omit, meta.get("ranges", {}))
        if "values" in meta:
            values = meta["values"]
            value = object_node(values, meta.get("required", ())) if dataclasses.is_dataclass(values) else node(values)
            out = {"type": "object", **_pick(meta, OBJECT_KEYS)}
            if "names" in meta:
                out["propertyNames"] = {"pattern": meta["names"]}
            return {**out, "additionalProperties": value}
        return {"type": "object"}
    raise TypeError(f"no JSON schema for type hint {hint!r}")


def object_node(cls: type, required=(), omit=(), ranges=None) -> dict:
    """A mapping of dataclass `cls`'s keys (less `omit`), unknown keys rejected. Required: `required`
    ("all": every key) and every field without a default."""
    ranges = ranges or {}
    fields = [f for f in dataclasses.fields(cls) if f.name not in omit]
    hints = _hints(cls)
    props = {f.name: node(hints[f.name], {**f.metadata, **ranges.get(f.name, {})}) for f in fields}
    no_default = [f.name for f in fields
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    names = [f.name for f in fields if required == "all" or f.name in required or f.name in no_default]
    out = {"type": "object", "additionalProperties": False, "properties": props}
    return {**out, "required": names} if names else out


def config_schema(sections: dict[str, type]) -> dict:
    """The JSON schema of the whole (full) config: one section per study (`sections`: its settings
    dataclass by name, icl_study.settings.SECTIONS), every key known."""
    return _config_schema(tuple(sections.items()))


@functools.cache
def _config_schema(sections: tuple[tuple[str, type], ...]) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "icl_study configuration, generated from the settings dataclasses "
                       "(icl_study/settings/schema.py). Every object rejects unknown keys.",
        "type": "object",
        "additionalProperties": False,
        "properties": {name: node(cls) for name, cls in sections},
        "required": [name for name, _ in sections],
    }


# --- the reference page ----------------------------------------------------------------------------

def field_docs(cls: type) -> dict[str, str]:
    """{field: its comment}: the comment on the field's first or last line, after the comment lines
    just above it (a subclass's field without one keeps its base class's)."""
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            docs.update({name: doc for name, doc in _own_field_docs(base).items() if doc or name not in docs})
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    docs = {}
    for stmt in ast.parse(source).body[0].body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        above, line = [], stmt.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        beside = comments.get(stmt.lineno) or comments.get(stmt.end_lineno or stmt.lineno)
        docs[stmt.target.id] = " ".join(part for part in [*above, beside or ""] if part)
    return docs


def _type_name(hint: typing.Any, meta: typing.Mapping) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a, meta) for a in args)
    if origin is tuple:
        return f"list of {_type_name(args[0], meta.get('items', meta))}"
    if dataclasses.is_dataclass(hint):
        return "mapping (below)"
    if hint is dict:
        if "block" in meta:
            return f"mapping: {_link(meta['block'])} keys"
        if "values" in meta:
            values = meta["values"]
            name = _link(values) if dataclasses.is_dataclass(values) else _type_name(values, {})
            return f"mapping: name → {name}"
        return "mapping"
    return getattr(hint, "__name__", str(hint))


def _link(cls: type) -> str:
    """A link to the table of a mapping's class (its heading's anchor)."""
    return f"[{cls.__name__}](#{cls.__name__.lower()})"


def _range(meta: typing.Mapping) -> str:
    if "items" in meta:
        meta = {**meta["items"], **_pick(meta, ARRAY_KEYS)}
    words = {"minimum": "≥ {}", "exclusiveMinimum": "> {}", "maximum": "≤ {}", "exclusiveMaximum": "< {}",
             "minItems": "≥ {} items", "maxItems": "≤ {} items", "minLength": "length ≥ {}",
             "minProperties": "≥ {} entries"}
    parts = [template.format(meta[key]) for key, template in words.items() if key in meta]
    if "enum" in meta:
        parts.append("one of " + ", ".join(f"`{v}`" for v in meta["enum"]))
    if "pattern" in meta:
        parts.append(f"matches `{meta['pattern']}`")
    if "names" in meta:
        parts.append(f"names match `{meta['names']}`")
    if "required" in meta:
        required = meta["required"]
        parts.append("every key required" if required == "all" else "requires " + ", ".join(f"`{k}`" for k in required))
    if "keys" in meta:
        parts.append("only " + ", ".join(f"`{k}`" for k in meta["keys"]))
    if "omit" in meta:
        parts.append("without " + ", ".join(f"`{k}`" for k in meta["omit"]))
    if "ranges" in meta:
        parts.append("; ".join(f"`{k}` {_range(v)}" for k, v in meta["ranges"].items()))
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(f: dataclasses.Field) -> str:
    from icl_study.config import to_dict

    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    if dataclasses.is_dataclass(value):
        return "(below)"
    return f"`{_cell(json.dumps(to_dict(value), ensure_ascii=False))}`"


def _table(cls: type, path: str, level: str, out: list[str], seen: list[type]) -> None:
    """Append the table of `cls` (heading `path`), then those of its nested dataclasses; note the
    dataclasses its mappings name in `seen` (their tables come at the end)."""
    docs, hints = field_docs(cls), _hints(cls)
    out += ["", f"{level} `{path}`", "", f"`{cls.__module__}.{cls.__qualname__}`", "",
            "| key | type | default | range | meaning |", "|---|---|---|---|---|"]
    nested = []
    for f in dataclasses.fields(cls):
        hint, meta = hints[f.name], f.metadata
        out.append(f"| `{f.name}` | {_cell(_type_name(hint, meta))} | {_default(f)} | {_cell(_range(meta))} "
                   f"| {_cell(docs.get(f.name, ''))} |")
        inner = [a for a in (typing.get_args(hint) or (hint,)) if a is not type(None)]
        nested += [(a, f"{path}.{f.name}") for a in inner if dataclasses.is_dataclass(a)]
        seen += [t for t in (meta.get("block"), meta.get("values")) if dataclasses.is_dataclass(t) and t not in seen]
    for target, sub in nested:
        _table(target, sub, "###", out, seen)


def markdown(sections: dict[str, type]) -> str:
    """docs/config.md: every section and key with its type, default, range and meaning."""
    out = ["# Config reference", "",
           "<!-- generated by icl_study/settings/schema.py from the settings dataclasses: do not edit; "
           "regenerate with `python -m icl_study.settings --markdown > docs/config.md` -->", "",
           "Every key of config.yaml, with its default (the default tier), its range (checked by the JSON "
           "schema Snakemake validates the config against, generated from the same dataclasses) and its "
           "meaning. Unknown keys are rejected. config.yaml and the tier files (configs/*.yaml) state only "
           "their choices; every other key takes the default below.", ""]
    seen: list[type] = []
    for section, cls in sections.items():
        _table(cls, section, "##", out, seen)
    out += ["", "## Mappings named above", "",
            "A `mapping: X keys` holds keys of X (the range column says which it must hold, or which it may "
            "not); a `mapping: name → X` maps names to mappings of X's keys."]
    done = 0
    while done < len(seen):  # a mapping's class may name further ones
        target = seen[done]
        done += 1
        _table(target, target.__name__, "###", out, seen)
    return "\n".join(out).rstrip() + "\n"
