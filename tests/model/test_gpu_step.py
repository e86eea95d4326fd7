"""Pins the GPU measurement scripts on the CPU at tiny sizes: benchmarks/gpu_step.py times every
shape and says what it skipped and why, the transience pilot writes its ICL curve, and
benchmarks/gpu_hours.py counts seed-group jobs and uses measured step times when it has them."""

import csv
import json
import sys

import pytest
import torch

from workflow_helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_hours  # noqa: E402
import gpu_step  # noqa: E402
import transience_pilot  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop")


@pytest.mark.skipif(torch.cuda.is_available(), reason="pins the CPU behaviour: compiled modes skipped")
def test_gpu_step_times_every_tiny_shape_and_names_what_it_skips(tmp_path):
    out = tmp_path / "gpu_step.json"
    gpu_step.main(["--tiny", "--members", "1", "2", "--min-seconds", "0.01", "--min-steps", "1", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["tier"] == "tiny" and result["matmul_tflops"] > 0
    timed = {(c["shape"], c["kind"], c["members"], c["mode"], c["data"]) for c in result["cases"]}
    for shape in gpu_step.SHAPES:
        assert (shape, "solo", 1, "eager", "live") in timed
        assert (shape, "stacked", 2, "eager", "live") in timed
    assert ("transience", "stacked", 2, "eager", "cached") in timed
    for case in result["cases"]:
        assert case["steps_per_s"] > 0 and case["member_steps_per_s"] == pytest.approx(case["steps_per_s"] * case["members"])
        assert 0 < case["mfu"] < 1 and case["tokens_per_s"] > 0
    assert not result["failed"]
    # compiled modes are not timed on a CPU without --cpu-compile, and each skip says why
    assert {c["mode"] for c in result["skipped"]} == {"compiled", "compiled+cudagraphs"}
    assert all("CUDA" in c["skipped"] for c in result["skipped"])


def test_paper_shapes_are_the_issues_models():
    runs = gpu_step.shape_runs(gpu_step.tier_config(tiny=False))
    shape = {name: (r["model"]["n_layer"], r["model"]["d_model"]) for name, r in runs.items()}
    assert shape == {"akyurek": (16, 512), "garg": (12, 256), "transience": (12, 64), "pipeline_gpt": (4, 128)}
    assert runs["akyurek"]["task_config"]["n_dims"] == 8 and runs["garg"]["task_config"]["n_dims"] == 20


def test_pilot_writes_icl_curve_for_every_member(tmp_path):
    summary = transience_pilot.main(["--tiny", "--steps", "4", "--out", str(tmp_path)])
    assert summary["steps"] == 4
    with open(tmp_path / "curve.csv") as f:
        rows = list(csv.DictReader(f))
    names = [name for name, _, _ in transience_pilot.MEMBERS]
    for name in names:
        metrics = {r["metric"] for r in rows if r["member"] == name and r["step"] == "4"}
        assert {"icl", "iwl", "icl_flip", "ciwl", "train_acc", "train_loss"} <= metrics
    assert set(json.loads((tmp_path / "summary.json").read_text())["per_member"]) == set(names)


DRY_RUN = """rule linreg_train:
    output: results/linreg/main/model.pt
Shell command: python -m icl_study train:train_rule --params '{"task": "regression", "train": {"steps": 10}}' --out x

rule ren_train:
    output: results/ren/softmax_s0/model.pt, results/ren/softmax_s1/model.pt
Shell command: python -m icl_study train:train_seeds_rule --params '{"run": {"task": "regression", "train": {"steps": 5, "seed": 0}}, "seeds": [0, 1]}' --out a b
"""


def test_gpu_hours_counts_each_seed_of_a_seed_group_job():
    # Seed-group jobs (ren's) must count once per seed, not once per job.
    jobs = gpu_hours.parse_training_jobs(DRY_RUN)
    assert [rule for rule, _ in jobs] == ["linreg_train", "ren_train", "ren_train"]
    assert [run["train"]["seed"] for _, run in jobs[1:]] == [0, 1]


def test_gpu_hours_uses_measured_step_times():
    model = {"n_layer": 12, "n_head": 8, "d_model": 64, "d_mlp": 256, "n_dims_in": 1664, "vocab_size": 0}
    case = {"model": model, "batch_size": 32, "n_tokens": 17}
    cases = [{**case, "kind": "solo", "members": 1, "member_steps_per_s": 100.0},
             {**case, "kind": "stacked", "members": 4, "member_steps_per_s": 300.0},
             {**case, "kind": "stacked", "members": 36, "member_steps_per_s": 2000.0}]
    assert gpu_hours.measured_step(cases, model, 32, 17, group=1) == (pytest.approx(0.01), "measured")
    assert gpu_hours.measured_step(cases, model, 32, 17, group=10) == (pytest.approx(1 / 300), "measured")  # E <= 10 runs
    deeper = {**model, "n_layer": 16}  # only the depth differs: scaled by layers
    assert gpu_hours.measured_step(cases, deeper, 32, 17, group=1) == (pytest.approx(0.01 * 16 / 12), "scaled")
    assert gpu_hours.measured_step(cases, {**model, "d_model": 128}, 32, 17, group=1) is None  # left to the estimate


def test_goals_are_judged_from_the_measured_cases():
    def case(**kw):
        return {"shape": "transience", "kind": "stacked", "members": 1, "mode": "eager", "data": "live",
                "member_steps_per_s": 100.0, "mfu": 0.01, **kw}

    result = {"members": [1, 36], "cases": [case(kind="solo", member_steps_per_s=120.0), case(),
                                            case(members=36, member_steps_per_s=1000.0),
                                            case(members=36, data="cached", member_steps_per_s=5000.0),
                                            case(shape="akyurek", kind="solo", mfu=0.2),
                                            case(shape="akyurek", kind="solo", mode="compiled", mfu=0.3, member_steps_per_s=150.0)]}
    akyurek, stacked, one = gpu_step.goals(result)
    assert "30.0 % (compiled)" in akyurek and akyurek.endswith(": met")  # the fastest mode's MFU
    assert "8.3x" in stacked and stacked.endswith("NOT met")  # live data only: 1000 / 120
    assert "10.0x" in one


def test_gpu_hours_table_from_a_measurement_file(tmp_path, monkeypatch):
    run = {"task": "regression", "task_config": {"n_dims": 2, "n_points": 4},
           "model": {"n_layer": 2, "n_head": 2, "d_model": 16, "d_mlp": 32, "n_dims_in": 2, "vocab_size": 0,
                     "n_positions": 8, "n_dims_out": 1},
           "train": {"steps": 3600, "batch_size": 8}}
    monkeypatch.setattr(gpu_hours, "training_jobs", lambda configfiles: [("ren_train", run)] * 4)
    case = {"model": run["model"], "batch_size": 8, "n_tokens": 8}
    measured = tmp_path / "gpu_step.json"
    measured.write_text(json.dumps({"tier": "paper", "device": "test", "matmul_tflops": 1.0, "cases": [
        {**case, "kind": "solo", "members": 1, "member_steps_per_s": 100.0},
        {**case, "kind": "stacked", "members": 4, "member_steps_per_s": 300.0}]}))
    table = gpu_hours.main(["--measured", str(measured)])
    assert table["measured"] and table["sources"] == {"ren": {"measured": 4}}
    assert table["hours"]["solo"]["ren"] == pytest.approx(4 * 3600 / 100 / 3600)
    assert table["hours"]["stacked"]["ren"] == pytest.approx(4 * 3600 / 300 / 3600)  # the 4 runs as one group of 4
    estimate = gpu_hours.main(["--measured", str(tmp_path / "absent.json")])
    assert not estimate["measured"] and estimate["sources"] == {"ren": {"estimate": 4}}
