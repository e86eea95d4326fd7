"""Pins what a user sees on bad input: the default profile loads by itself, a
diverging training job fails with one line on the console (the job's log tail, shown by the
profile's `show-failed-logs`), a bad row of a user's CSV too, a missing --configfile names the file,
and none of these writes
anything outside results/ (benchmark timings included), logs/, resources/ (and Snakemake's own .snakemake/)."""

from __future__ import annotations

from workflow_helpers import REPO, TINY, snakemake

ALLOWED = {"results", "logs", "resources", ".snakemake"}


def written(workdir) -> set[str]:
    """Top-level entries of a workflow's working directory (the override files live elsewhere)."""
    return {path.name for path in workdir.iterdir()}


def test_dry_run_names_the_default_profile(tmp_path):
    """profiles/default (cores 2, rerun-incomplete, show-failed-logs) is loaded without --profile."""
    result = snakemake(tmp_path / "run", "-n")
    assert "Using workflow specific profile" in result.stderr and "profiles/default" in result.stderr


def test_diverging_training_fails_with_one_line_on_the_console(tmp_path):
    override = tmp_path / "diverge.yaml"
    override.write_text("linreg:\n  train: {lr: 10.0, grad_clip: 0.0, warmup_steps: 1}\n")
    workdir = tmp_path / "run"
    result = snakemake(workdir, "results/linreg/main/model.pt", "--cores", "1",
                       configfiles=(REPO / "config.yaml", TINY, override), check=False)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    errors = [line for line in console.splitlines() if line.startswith("icl_study: ")]
    assert errors and errors[0].startswith("icl_study: training diverged: linreg.train.lr: "), console[-3000:]
    assert "lower linreg.train.lr (now 10), or set linreg.train.grad_clip (now 0: off)" in errors[0]
    assert "(run main: " in errors[0]
    assert "Traceback" not in console
    assert not (workdir / "results/linreg/main/model.pt").exists()
    assert written(workdir) <= ALLOWED


def test_missing_configfile_names_the_file_and_writes_nothing(tmp_path):
    """Snakemake reads --configfile before any project code runs: its last line names the file."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    result = snakemake(workdir, "-n", configfiles=(REPO / "config.yaml", tmp_path / "nosuch.yaml"), check=False)
    assert result.returncode != 0
    assert "nosuch.yaml" in result.stdout.strip().splitlines()[-1]  # Snakemake prints it on stdout
    assert written(workdir) <= ALLOWED


def test_user_csv_edit_reruns_its_job_and_a_bad_row_is_one_line(tmp_path, gpt2_dir):
    """An hf: model on a user CSV runs; editing the CSV reruns the job (the file is an input), and
    the edit's bad row stops it with one line naming the file and line on the console."""
    import yaml

    data = tmp_path / "mine.csv"
    data.write_text("text,label\n" + "".join(f"review {i} {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(24)))
    task = {"source": "csv", "path": str(data), "template": "Review: {text}\nSentiment:",
            "label_words": [" negative", " positive"], "separator": "\n\n", "max_words": 0, "rating_edges": [0.0]}
    override = tmp_path / "user.yaml"
    override.write_text(yaml.safe_dump({"lm": {"models": [f"hf:{gpt2_dir}"], "tasks": {"mine": task}}}))
    workdir, target = tmp_path / "run", f"results/lm/icl/hf-{gpt2_dir.name}/mine.csv"
    configs = (REPO / "config.yaml", TINY, override)
    snakemake(workdir, target, "--cores", "1", configfiles=configs)
    assert (workdir / target).exists()

    data.write_text(data.read_text() + "an unsure review,1.7\n")  # line 26
    result = snakemake(workdir, target, "--cores", "1", configfiles=configs, check=False)
    console = result.stdout + result.stderr
    assert result.returncode != 0  # it reran: the CSV is an input
    assert f"icl_study: data error: {data} line 26: label '1.7' is not a class index" in console, console[-3000:]
    assert "Traceback" not in console and written(workdir) <= ALLOWED
