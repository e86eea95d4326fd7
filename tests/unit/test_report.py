"""Pins the HTML report's inputs: every figure rule (`fig_*`, a reuse of the template `rule figure`)
registers an output with `report()`
and a caption rendered by rule caption from a template that exists and is not empty (the build
itself is tested in tests/workflow/test_workflow.py)."""

import re

from workflow_helpers import REPO

RULES = REPO / "workflow" / "rules"
TEMPLATES = RULES.parent / "report" / "templates"


def figure_rules() -> dict[str, str]:
    """{rule name: its text} for every figure rule (`use rule figure as fig_*`) in workflow/rules/*.smk."""
    found = {}
    for smk in sorted(RULES.glob("*.smk")):
        # a rule's text runs from its header to the next top-level statement
        for match in re.finditer(r"^(?:rule|use rule \w+ as) (fig_\w+)(?::| with:)\n((?:[ \t]+.*\n|\n)*)", smk.read_text(), re.M):
            found[match.group(1)] = match.group(2)
    return found


def test_every_figure_rule_has_a_report_output_with_a_caption():
    rules = figure_rules()
    assert rules, "no figure rules found"
    for name, text in rules.items():
        assert "report(" in text, f"{name}: no output registered with report()"
        captions = re.findall(r'caption=caption\("(\w+)"\)', text)
        assert captions, f"{name}: report() without a rendered caption, caption(\"<figure>\")"
        for caption in captions:
            path = TEMPLATES / f"{caption}.rst"
            assert path.is_file() and path.read_text().strip(), f"{name}: caption template {path} missing or empty"
