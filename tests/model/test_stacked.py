"""Pins stacked members (icl_study/stacked.py): each member of a group equals its solo run to 1e-5
relative (fp32, CPU), writes the solo run's files, resumes per group, and a diverging member stops
the group with its name."""

import csv
import logging

import pytest
import torch

import icl_study.stacked as stacked
from icl_study.checkpoint import load_checkpoint, load_model
from icl_study.config import ConfigError
from icl_study.stacked import train_group
from icl_study.train import train_group_rule
from icl_study.train import train, train_seeds_rule

# The CPU's fused attention has no vmap rule yet: torch loops over members (slower, same numbers).
pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop")

REGRESSION = {"task": "regression", "task_config": {"n_dims": 2, "n_points": 4},
              "model": {"n_layer": 2, "n_head": 2, "d_model": 16, "d_mlp": 16, "n_positions": 8, "n_dims_in": 2},
              "train": {"steps": 50, "batch_size": 8, "warmup_steps": 4, "checkpoint_every": 20, "log_every": 10,
                        "device": "cpu"}}
# Per-member settings that differ: seed (init and data), lr schedule, weight decay, clipping (0 = off).
MEMBERS = [{"seed": 0}, {"seed": 1, "lr": 3e-3, "weight_decay": 0.1},
           {"seed": 2, "grad_clip": 0.0, "weight_decay": 0.5, "min_lr_ratio": 1.0}]
BURSTY = {"task": "bursty",
          "task_config": {"n_classes": 16, "n_holdout": 4, "n_exemplars": 3, "emb_dim": 8, "n_labels": 4,
                          "context_len": 4, "bursty_shots": 2, "bursty_ways": 2, "eval_shots": 2, "eval_ways": 2,
                          "eval_size": 32, "eval_steps": [3, 7]},
          "model": {"n_layer": 2, "n_head": 2, "d_model": 16, "d_mlp": 0, "n_positions": 9, "n_dims_in": 12,
                    "n_dims_out": 4},
          "train": {"steps": 20, "batch_size": 8, "warmup_steps": 5, "checkpoint_every": 10, "log_every": 10,
                    "keep_steps": [5], "device": "cpu"}}


def runs(base, members=MEMBERS):
    return [{**base, "train": {**base["train"], **m}} for m in members]


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def assert_same_weights(stacked_path, solo_path, tol=1e-5, weight_tol=None):
    """Every tensor to `tol` relative, except the key bias: its gradient is zero in exact
    arithmetic (softmax ignores a score shift shared by all keys), so in both runs it is float
    noise that Adam amplifies (~1e-5 absolute after 50 steps, uncorrelated between any two
    implementations); so is the output bias of `augmented`'s key transform. The model's outputs,
    which neither can change, are compared instead."""
    a, b = load_checkpoint(stacked_path)["model"], load_checkpoint(solo_path)["model"]
    assert a.keys() == b.keys()
    for name in b:
        x, y = a[name], b[name]
        if name.endswith("attn.aug_k.2.bias"):  # `augmented`: shifts every key alike, zero gradient too
            continue
        if name.endswith("attn.qkv.bias"):
            third = len(y) // 3
            x, y = torch.cat([x[:third], x[2 * third:]]), torch.cat([y[:third], y[2 * third:]])  # q and v
        assert relative(x, y) <= (weight_tol or tol), (name, relative(x, y))
    model_a, cfg = load_model(stacked_path)
    model_b, _ = load_model(solo_path)
    inputs = torch.randn(16, cfg.model.n_positions, cfg.model.n_dims_in, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert relative(model_a(inputs), model_b(inputs)) <= tol


def metric_rows(path):
    with open(path) as f:
        return list(csv.reader(f))


def assert_same_metrics(stacked_csv, solo_csv, tol=1e-5):
    a, b = metric_rows(stacked_csv), metric_rows(solo_csv)
    assert [r[:3] for r in a] == [r[:3] for r in b]  # same steps, splits and metrics, in order
    for ra, rb in zip(a[1:], b[1:]):
        assert abs(float(ra[3]) - float(rb[3])) <= tol * max(1.0, abs(float(rb[3]))), (ra, rb)


def test_three_members_equal_their_solo_runs(tmp_path):
    group = train_group(runs(REGRESSION), [tmp_path / f"member{i}" for i in range(3)])
    for i, run in enumerate(runs(REGRESSION)):
        solo = train(run, tmp_path / f"solo{i}")
        assert group[i] == tmp_path / f"member{i}" / "model.pt"
        assert_same_weights(group[i], solo)
        assert_same_metrics(group[i].parent / "train_metrics.csv", solo.parent / "train_metrics.csv")
        a, b = load_checkpoint(group[i]), load_checkpoint(solo)
        assert a["run_config"] == b["run_config"] and a["step"] == b["step"] == 50
        # AdamW's own state layout, moments equal: the solo trainer can resume a member's checkpoint
        assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
        assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
        for key, state in b["optimizer"]["state"].items():
            assert torch.equal(a["optimizer"]["state"][key]["step"], state["step"])
            assert relative(a["optimizer"]["state"][key]["exp_avg_sq"], state["exp_avg_sq"]) <= 1e-4


def test_bursty_members_equal_their_solo_runs_with_evaluators_and_kept_steps(tmp_path):
    members = [{"seed": 0}, {"seed": 1, "weight_decay": 1.0}]
    group = train_group(runs(BURSTY, members), [tmp_path / f"member{i}" for i in range(2)])
    for i, run in enumerate(runs(BURSTY, members)):
        solo = train(run, tmp_path / f"solo{i}")
        assert_same_weights(group[i], solo)
        assert_same_metrics(group[i].parent / "train_metrics.csv", solo.parent / "train_metrics.csv")
        assert (group[i].parent / "checkpoints" / "step_0000005.pt").exists()


def test_non_finite_loss_stops_the_group_naming_the_member(tmp_path):
    members = [{"seed": 0}, {"seed": 1, "lr": 1e30, "grad_clip": 0.0}, {"seed": 2}]
    with pytest.raises(FloatingPointError, match=r"member 1 \(.*member1, seed 1\): train\.lr: the training loss"):
        train_group(runs(REGRESSION, members), [tmp_path / f"member{i}" for i in range(3)])


def test_group_resumes_per_group_and_a_member_behind_catches_up(tmp_path, monkeypatch):
    dirs = [tmp_path / f"member{i}" for i in range(3)]
    straight = train_group(runs(REGRESSION), [tmp_path / f"straight{i}" for i in range(3)])
    real_step, calls = stacked.Stack.train_step, []

    def crash_at_step_25(self, *args, **kwargs):
        if len(calls) == 25:
            raise KeyboardInterrupt("simulated kill")  # after the step-20 checkpoints
        calls.append(1)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(stacked.Stack, "train_step", crash_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        train_group(runs(REGRESSION), dirs)
    monkeypatch.setattr(stacked.Stack, "train_step", real_step)
    assert all(load_checkpoint(d / "checkpoints" / "last.pt")["step"] == 20 for d in dirs)
    (dirs[2] / "checkpoints" / "last.pt").unlink()  # member 2 lost its checkpoint: it restarts alone
    resumed = train_group(runs(REGRESSION), dirs)
    for i in range(2):  # resumed members: bit-identical to the uninterrupted group (same kernels)
        for name, tensor in load_checkpoint(straight[i])["model"].items():
            assert torch.equal(tensor, load_checkpoint(resumed[i])["model"][name]), name
        assert (dirs[i] / "train_metrics.csv").read_text() == (straight[i].parent / "train_metrics.csv").read_text()
    assert_same_weights(resumed[2], straight[2])  # trained to step 20 in a group of one, then with the others


def test_solo_trainer_resumes_a_member_checkpoint(tmp_path, monkeypatch, caplog):
    run = runs(REGRESSION)[:2]
    real_step, calls = stacked.Stack.train_step, []

    def crash_at_step_25(self, *args, **kwargs):
        if len(calls) == 25:
            raise KeyboardInterrupt("simulated kill")
        calls.append(1)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(stacked.Stack, "train_step", crash_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        train_group(run, [tmp_path / "member0", tmp_path / "member1"])
    with caplog.at_level(logging.INFO, logger="icl_study.train"):
        finished = train(run[1], tmp_path / "member1")  # the solo trainer picks up at step 20
    assert "at step 20" in caplog.text and "starting at step 20 of 50" in caplog.text
    assert_same_weights(finished, train(run[1], tmp_path / "solo1"))


def test_seeds_rule_with_members_per_job_trains_stacked_groups(tmp_path, monkeypatch):
    job = {"run": {**REGRESSION, "train": {**REGRESSION["train"], "steps": 10, "members_per_job": 2}},
           "seeds": [0, 1, 2]}
    outputs = [str(tmp_path / f"s{seed}" / "model.pt") for seed in job["seeds"]]
    sizes = []
    import icl_study.train as train_module

    real_group = stacked.train_group
    monkeypatch.setattr(train_module, "train_group", lambda cfgs, dirs: sizes.append(len(cfgs)) or real_group(cfgs, dirs))
    train_seeds_rule([], job, outputs)
    assert sizes == [2]  # members_per_job caps E; the last chunk of one run goes to the solo trainer
    solo_job = {"run": {**job["run"], "train": {**job["run"]["train"], "members_per_job": 1}}, "seeds": [0, 1, 2]}
    solo_outputs = [str(tmp_path / f"solo{seed}" / "model.pt") for seed in job["seeds"]]
    train_seeds_rule([], solo_job, solo_outputs)
    for output, solo in zip(outputs, solo_outputs):
        assert load_checkpoint(output)["run_config"] == load_checkpoint(solo)["run_config"]  # members_per_job stored as 1
        assert_same_weights(output, solo)


def test_members_must_share_the_model_and_loop(tmp_path):
    other = {**REGRESSION, "model": {**REGRESSION["model"], "d_mlp": 32}}
    with pytest.raises(ConfigError, match="model.d_mlp: stacked members must share"):
        train_group([REGRESSION, other], [tmp_path / "a", tmp_path / "b"])
    longer = {**REGRESSION, "train": {**REGRESSION["train"], "steps": 60}}
    with pytest.raises(ConfigError, match="train.steps: stacked members must share"):
        train_group([REGRESSION, longer], [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ConfigError, match="train.members_per_job"):
        train_group_rule([], {"runs": [{**REGRESSION, "train": {**REGRESSION["train"], "members_per_job": 0}}]},
                         [str(tmp_path / "a" / "model.pt")])


def test_schema_accepts_members_per_job_and_refuses_zero():
    import copy


    from icl_study.settings import validate_workflow_config
    from workflow_helpers import REPO

    from icl_study.settings import load_config

    config = load_config([REPO / "config.yaml"])
    assert "members_per_job" not in config["ren"]["variants"]["train"]  # the default tier: one run at a time
    grouped = copy.deepcopy(config)
    grouped["ren"]["variants"]["train"]["members_per_job"] = 5
    validate_workflow_config(grouped)
    grouped["ren"]["variants"]["train"]["members_per_job"] = 0
    with pytest.raises(ConfigError, match="ren.variants.train.members_per_job"):
        validate_workflow_config(grouped)


@pytest.mark.parametrize("kind", ["linear", "regularized", "augmented", "negative", "momentum"])
def test_every_attention_kind_stacks(tmp_path, kind):
    """Ren's variants are the workflow's stacked groups: each kind's members equal their solo runs
    (outputs to 1e-5; weights to 1e-4: `augmented`'s key-transform biases start at zero and have
    (near-)zero gradients, so their few-1e-3 values carry Adam-amplified rounding, 1.7e-5 measured)."""
    base = {**REGRESSION, "model": {**REGRESSION["model"], "attention": kind},
            "train": {**REGRESSION["train"], "steps": 15, "log_every": 5, "checkpoint_every": 15}}
    members = MEMBERS[:2]
    group = train_group(runs(base, members), [tmp_path / f"member{i}" for i in range(2)])
    for i, run in enumerate(runs(base, members)):
        assert_same_weights(group[i], train(run, tmp_path / f"solo{i}"), weight_tol=1e-4)


def test_token_inputs_stack(tmp_path):
    """pipeline-gpt's corpus (token ids, an embedding): ren's corpus groups."""
    corpus = {"task": "concepts", "task_config": {"n_classes": 64, "n_labels": 8, "context_len": 4, "bursty_shots": 1,
                                                 "bursty_ways": 2, "eval_size": 32},
              "model": {"n_layer": 1, "n_head": 2, "d_model": 16, "d_mlp": 32, "n_positions": 10, "vocab_size": 72},
              "train": {"steps": 15, "batch_size": 8, "warmup_steps": 5, "checkpoint_every": 15, "log_every": 5,
                        "device": "cpu"}}
    group = train_group(runs(corpus, MEMBERS[:2]), [tmp_path / "member0", tmp_path / "member1"])
    for i, run in enumerate(runs(corpus, MEMBERS[:2])):
        solo = train(run, tmp_path / f"solo{i}")
        a, b = load_checkpoint(group[i])["model"], load_checkpoint(solo)["model"]
        for name in b:
            if not name.endswith("attn.qkv.bias"):
                assert relative(a[name], b[name]) <= 1e-5, name
        assert_same_metrics(group[i].parent / "train_metrics.csv", solo.parent / "train_metrics.csv")
