"""The package's import graph (every `import` / `from ... import` of an icl_study module, inside
functions too): no module imports another's private names, and no import circle beyond the one
still being taken apart (KNOWN_CIRCLE, issue 28's layering). A new circle, or a module joining the
known one, fails here; so does the known one shrinking without this list being updated."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "icl_study"

# The settings/plan/ledger/docs circle, to be broken by the layered restructuring; nothing new may
# join it. Its root: config -> settings -> plan -> studies.diversity, so every module that
# studies.diversity imports and that imports config is in it too (tasks.pool_regression joined when
# the diversity study started reading pool-regression tasks at the query).
KNOWN_CIRCLE = frozenset({
    "icl_study.checkpoint", "icl_study.checks", "icl_study.config", "icl_study.docs", "icl_study.ledger",
    "icl_study.model", "icl_study.plan", "icl_study.settings", "icl_study.studies.diversity",
    "icl_study.tasks.regression", "icl_study.tasks.pool_regression",
})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported icl_study module, names taken from it) for every import statement in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("icl_study")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("icl_study"):
            found.append((node.module, [a.name for a in node.names]))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {m: set() for m in modules}
    for name, path in modules.items():
        for target, names in imports(path):
            # `from icl_study.studies import lenses` imports the submodule
            targets = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            edges[name] |= {t for t in targets if t in modules and t != name}
    return edges


def circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_module_imports_another_modules_private_names():
    private = [(module_name(p), target, n) for p in PACKAGE.rglob("*.py") for target, names in imports(p)
               for n in names if n.startswith("_") and not n.startswith("__")]
    assert private == []


def test_no_import_circle_beyond_the_known_one():
    found = circles(graph())
    assert all(c <= KNOWN_CIRCLE for c in found), [sorted(c) for c in found if not c <= KNOWN_CIRCLE]
    assert found == [] or set().union(*found) == KNOWN_CIRCLE, "the known circle shrank: update KNOWN_CIRCLE"


def test_the_check_finds_a_planted_circle():
    """A planted import back from run_state to train (a 2-file circle) is found."""
    edges = graph()
    edges["icl_study.run_state"] = edges["icl_study.run_state"] | {"icl_study.train"}
    assert {"icl_study.run_state", "icl_study.train"} <= set().union(*circles(edges))
    assert circles({"a": {"b"}, "b": {"a"}, "c": set()}) == [{"a", "b"}]
