"""Pins the token corpus of pipeline-gpt (icl_study/tasks/concepts.py): the sequence layout, the
fixed and fresh label assignments, balanced evaluation episodes and the Bayes-optimal accuracy."""

import torch

from icl_study.rng import generator
from icl_study.tasks.concepts import ConceptsTask, bayes_accuracy

CFG = {"n_classes": 64, "n_labels": 8, "context_len": 6, "bursty_shots": 2, "bursty_ways": 2}


def test_training_sequences_alternate_classes_and_labels():
    task = ConceptsTask({**CFG, "p_fresh": 0.0, "p_bursty": 0.5}, seed=0)
    tokens = task.train_batch(0, 256)["tokens"]
    assert tokens.shape == (256, task.n_tokens)
    classes, labels = tokens[:, 0::2], tokens[:, 1::2]
    assert (classes < 64).all() and (labels >= 64).all() and (labels < 72).all()
    # without fresh sequences, every label is the class's fixed (in-weights) label
    assert torch.equal(labels - 64, task.class_labels[classes])
    assert torch.equal(tokens, task.train_batch(0, 256)["tokens"])  # a pure function of (seed, step)


def test_fresh_sequences_relabel_consistently_within_a_sequence():
    """With p_fresh = 1 labels differ from the fixed map, but one class keeps one label per sequence."""
    task = ConceptsTask({**CFG, "p_fresh": 1.0}, seed=0)
    tokens = task.train_batch(1, 512)["tokens"]
    classes, labels = tokens[:, 0::2], tokens[:, 1::2] - 64
    assert (labels != task.class_labels[classes]).float().mean() > 0.5  # chance of keeping a label: 1/8
    same_class = classes[:, :, None] == classes[:, None, :]  # (B, N+1, N+1)
    same_label = labels[:, :, None] == labels[:, None, :]
    assert (same_label | ~same_class).all()


def test_fewshot_prompts_are_balanced_and_end_with_the_query():
    task = ConceptsTask(CFG, seed=0)
    episodes = task.fewshot_prompts(generator(0, "demo"), 128, k=4, ways=2, fresh=True)
    tokens, candidates, target = episodes["tokens"], episodes["candidates"], episodes["target"]
    assert tokens.shape == (128, 9)
    demo_labels = tokens[:, 1:-1:2]  # (B, 4)
    for way in range(2):  # each candidate label appears exactly twice among the 4 demonstrations
        assert ((demo_labels == candidates[:, way : way + 1]).sum(1) == 2).all()
    query_label = candidates.gather(1, target[:, None])  # the query's class carries that label in context
    query_class = tokens[:, -1:]
    shown = (tokens[:, 0:-1:2] == query_class) & (demo_labels == query_label)
    assert shown.any(1).all()
    iwl = task.fewshot_prompts(generator(0, "demo"), 64, k=2, ways=2, fresh=False)
    assert torch.equal(task.class_labels[iwl["tokens"][:, -1]] + 64, iwl["candidates"].gather(1, iwl["target"][:, None])[:, 0])


def test_bayes_accuracy_closed_form():
    """Shown query way -> 1; otherwise 1 / (ways not shown); zero-shot -> 1 / ways."""
    slots = torch.tensor([[0, 0], [1, 1], [1, 2]])  # ways shown per episode (3 ways)
    target = torch.tensor([0, 0, 0])
    assert torch.allclose(bayes_accuracy(slots, target, ways=3), torch.tensor([1.0, 1 / 2, 1.0]))
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert torch.allclose(bayes_accuracy(empty, torch.tensor([0, 1]), ways=4), torch.full((2,), 0.25))
