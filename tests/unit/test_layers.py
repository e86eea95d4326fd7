"""The package's import graph (every `import` / `from ... import` of an icl_study module, inside
functions too): no import circle, no module importing another's private names, and the workflow's
layers in one direction (docs/ARCHITECTURE.md): config.py, a leaf; the registry of studies; the
settings; the plan, with each study's part of it (icl_study/studies/<study>_plan.py: its runs and
its jobs' properties, torch-free); the checks, the ledger and the docs renderer; the workflow's
plan; the studies on top. Each check is shown failing on a planted import."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "icl_study"

# The studies' parts of the plan (icl_study/studies/<study>_plan.py), which the registry names.
STUDY_PLANS = sorted(f"icl_study.studies.{p.stem}" for p in (PACKAGE / "studies").glob("*_plan.py"))

# Bottom up: a module may import its own layer and those below, never one above nor a study.
LAYERS = [
    ["icl_study.config"],
    ["icl_study.registry"],
    ["icl_study.settings"],  # and its section modules icl_study.settings.*
    ["icl_study.plan", "icl_study.jobs"] + STUDY_PLANS,  # a study's plan module imports the plan, never its analyses
    ["icl_study.checks", "icl_study.ledger", "icl_study.docs", "icl_study.placeholders"],
    ["icl_study.workflow_plan"],
]


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


def layer_of(module: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return i
    return None


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, imported module) pairs that go up a layer or into a study."""
    bad = []
    for module, targets in edges.items():
        level = layer_of(module)
        if level is None:
            continue
        for target in targets:
            other = layer_of(target)
            if (target.startswith("icl_study.studies") and other is None) or (other is not None and other > level):
                bad.append((module, target))
    return sorted(bad)


def test_no_import_circle():
    assert circles(graph()) == []


def test_the_layers_import_downwards_only():
    assert upward_imports(graph()) == []


def test_the_layer_check_finds_a_planted_upward_import():
    edges = graph()
    edges["icl_study.config"] = edges["icl_study.config"] | {"icl_study.settings"}
    edges["icl_study.plan"] = edges["icl_study.plan"] | {"icl_study.studies.diversity"}
    edges["icl_study.studies.lenses_plan"] = edges["icl_study.studies.lenses_plan"] | {"icl_study.studies.lenses",
                                                                                       "icl_study.checks"}
    assert upward_imports(edges) == [("icl_study.config", "icl_study.settings"),
                                     ("icl_study.plan", "icl_study.studies.diversity"),
                                     ("icl_study.studies.lenses_plan", "icl_study.checks"),
                                     ("icl_study.studies.lenses_plan", "icl_study.studies.lenses")]


def test_the_study_plan_modules_sit_at_the_plan_layer():
    assert len(STUDY_PLANS) >= 8
    assert all(layer_of(module) == layer_of("icl_study.plan") for module in STUDY_PLANS)


def test_the_check_finds_a_planted_circle():
    """A planted import back from run_state to train (a 2-file circle) is found."""
    edges = graph()
    edges["icl_study.run_state"] = edges["icl_study.run_state"] | {"icl_study.train"}
    assert {"icl_study.run_state", "icl_study.train"} <= set().union(*circles(edges))
    assert circles({"a": {"b"}, "b": {"a"}, "c": set()}) == [{"a", "b"}]
