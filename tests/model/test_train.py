"""Pins the training loop: a run stopped and resumed ends with exactly the weights of an
uninterrupted run; checkpoints of another config are not resumed; config errors name the key."""

import pytest
import torch

from icl_study import run_state
from icl_study.checkpoint import CheckpointError, load_checkpoint
from icl_study.config import ConfigError, TrainConfig, run_config
from icl_study.train import lr_at, train, train_seeds_rule

TINY = {"task": "regression", "task_config": {"n_dims": 2, "n_points": 4},
        "model": {"n_layer": 1, "n_head": 2, "d_model": 16, "d_mlp": 16, "n_positions": 8, "n_dims_in": 2},
        "train": {"steps": 20, "batch_size": 8, "warmup_steps": 4, "checkpoint_every": 5, "log_every": 5,
                  "device": "cpu"}}


def with_train(**overrides):
    return {**TINY, "train": {**TINY["train"], **overrides}}


def weights(path):
    return load_checkpoint(path)["model"]


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    import icl_study.train as training

    straight = train(TINY, tmp_path / "straight")
    real_step, calls = training.train_step, []

    def crash_at_step_12(*args, **kwargs):
        if len(calls) == 12:
            raise KeyboardInterrupt("simulated kill")  # after the step-10 checkpoint, before step 15's
        calls.append(1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", crash_at_step_12)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, tmp_path / "resumed")
    assert load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["step"] == 10
    monkeypatch.setattr(training, "train_step", real_step)
    final = train(TINY, tmp_path / "resumed")  # picks up at step 10
    for name, tensor in weights(straight).items():
        assert torch.equal(tensor, weights(final)[name]), name  # bit-identical on CPU
    straight_rows = (tmp_path / "straight" / "train_metrics.csv").read_text()
    assert (tmp_path / "resumed" / "train_metrics.csv").read_text() == straight_rows  # no lost or doubled rows


def test_checkpoint_of_another_config_is_not_resumed(tmp_path):
    train(TINY, tmp_path)
    final = train(with_train(lr=5e-4), tmp_path)  # same folder, different config: starts at 0
    assert load_checkpoint(final)["run_config"]["train"]["lr"] == 5e-4


def test_corrupt_checkpoint_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "checkpoints" / "last.pt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt"):
        train(TINY, tmp_path)


def test_sequence_longer_than_positions_is_a_config_error(tmp_path):
    cfg = {**TINY, "task_config": {"n_dims": 2, "n_points": 5}}  # 10 tokens > n_positions 8
    with pytest.raises(ConfigError, match="model.n_positions"):
        train(cfg, tmp_path)


def test_unknown_key_in_run_config_is_named():
    with pytest.raises(ConfigError, match="train.lrr"):
        run_config(with_train(lrr=1.0))
    with pytest.raises(ConfigError, match="train.steps"):
        run_config(with_train(steps="many"))


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(100, cfg) == pytest.approx(0.1)
    assert all(lr_at(s, cfg) >= lr_at(s + 1, cfg) for s in range(10, 100))


def test_seeds_rule_trains_each_seed_as_its_own_run(tmp_path):
    """One job, several seeds: each model.pt equals the run `train` makes with that seed alone."""
    outputs = [str(tmp_path / f"s{seed}" / "model.pt") for seed in (3, 4)]
    train_seeds_rule([], {"run": TINY, "seeds": [3, 4]}, outputs)
    alone = train(with_train(seed=4), tmp_path / "alone")
    assert all(torch.equal(a, b) for a, b in zip(weights(outputs[1]).values(), weights(alone).values()))
    assert not all(torch.equal(a, b) for a, b in zip(weights(outputs[0]).values(), weights(alone).values()))
    with pytest.raises(ConfigError, match="one model.pt per seed"):
        train_seeds_rule([], {"run": TINY, "seeds": [3, 4]}, outputs[:1])


def test_rerun_of_a_finished_run_retrains(tmp_path, monkeypatch):
    """A forced rerun (e.g. after a code edit) must not resume a finished run's last.pt
    (step N of N) and write the old weights again. Here the edit is a learning rate of 0, so a
    real retrain ends at the initial weights."""
    import icl_study.train as training

    first = weights(train(TINY, tmp_path))
    monkeypatch.setattr(training, "lr_at", lambda step, cfg: 0.0)  # the "edited package code"
    second = weights(train(TINY, tmp_path))  # same folder, same config, as a forced job sees it
    initial = training.build_model(run_config(TINY)).state_dict()
    assert all(torch.equal(second[name], initial[name]) for name in initial)  # retrained from step 0
    assert not all(torch.equal(first[name], second[name]) for name in first)


def test_partial_checkpoint_of_other_code_is_not_resumed(tmp_path, monkeypatch):
    """A run killed mid-way and rerun after the package code changed starts again from step 0."""
    import icl_study.train as training

    real_step, calls = training.train_step, []

    def crash_at_step_12(*args, **kwargs):
        if len(calls) == 12:
            raise KeyboardInterrupt("simulated kill")
        calls.append(1)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", crash_at_step_12)
    with pytest.raises(KeyboardInterrupt):
        train(TINY, tmp_path)
    monkeypatch.setattr(training, "train_step", real_step)
    monkeypatch.setattr(run_state, "code_version", lambda: "edited")
    started = []
    monkeypatch.setattr(training, "log_progress", lambda *a, **k: started.append(a[2]) or [])
    train(TINY, tmp_path)
    assert started[0] == 5  # first progress line at step 5: trained from 0, not resumed at 10


def test_diverging_run_stops_with_advice_from_its_settings(tmp_path):
    """With lr 10 and no clipping used to finish and write errors of ~1e5; it must stop, and
    the advice must name what is set (clipping is off here), not a generic list."""
    from icl_study.train import TrainingDiverged

    with pytest.raises(TrainingDiverged, match=r"^train\.lr: .*lower train\.lr \(now 10\), or set train\.grad_clip \(now 0: off\)"):
        train(with_train(lr=10.0, grad_clip=0.0, warmup_steps=1), tmp_path / "noclip")
    with pytest.raises(TrainingDiverged, match=r"or train\.grad_clip \(now 1\)$"):
        train(with_train(lr=1e3, grad_clip=1.0, warmup_steps=1), tmp_path / "clip")
    assert not (tmp_path / "noclip" / "model.pt").exists()


def test_non_finite_loss_before_any_update_blames_the_task_not_the_lr(tmp_path):
    from icl_study.train import TrainingDiverged

    cfg = {**TINY, "task_config": {**TINY["task_config"], "noise_std": 1e30}}
    with pytest.raises(TrainingDiverged, match=r"^task: .* at step 0, before any update: check task\.noise_std \(1e\+30\)$"):
        train(cfg, tmp_path)


def test_checkpoint_file_mode_follows_the_umask(tmp_path):
    """Checkpoints were 0600 (mkstemp's mode), unreadable by a group on shared storage."""
    import os

    from icl_study.checkpoint import save_checkpoint

    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "c.pt", {"step": 1, "run_config": {}, "model": {}})
    finally:
        os.umask(old)
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == 0o640  # 0o666 minus the umask


def test_no_console_script_that_lists_nothing_a_user_can_run():
    """`icl-study --help` showed only the rule-entry interface (module:function, JSON
    params). Users run `snakemake` (README, "Everyday use"); rules run `python -m icl_study`."""
    from workflow_helpers import REPO

    assert "icl-study =" not in (REPO / "pyproject.toml").read_text()  # (tomllib needs Python 3.11)
