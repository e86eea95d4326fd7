"""Study 2 (Dai et al. 2022): every metric against a hand computation on tiny tensors, the exact
dual identity in float64, momentum attention against an explicit moving average, the untrained
control, and the study's tables and figures end to end on tiny models (seconds)."""

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from icl_study import dual, metrics
from icl_study.config import ConfigError, ModelConfig
from icl_study.model import GPT
from icl_study.rng import stream_seed
from icl_study.episodes import Episode, concept_episode
from icl_study.measures import matched_finetuning
from icl_study.studies import dai


def test_rec2ftp_on_a_truth_table():
    """Of the 4 examples ZS got wrong and FT right, ICL gets 3: Rec2FTP = 3/4; others are ignored."""
    zs = torch.tensor([0, 0, 0, 0, 1, 1, 0, 0], dtype=torch.bool)
    ft = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0], dtype=torch.bool)
    icl = torch.tensor([1, 1, 1, 0, 0, 1, 1, 1], dtype=torch.bool)
    assert float(metrics.rec2ftp(zs, ft, icl)) == 0.75
    assert torch.isnan(metrics.rec2ftp(zs, torch.zeros(8, dtype=torch.bool), icl))  # FT fixed nothing: undefined


def test_simaou_cosine_cases():
    """Hand-computed cosines of the unit-norm updates; only the directions of the outputs matter."""
    zs = torch.tensor([1.0, 0.0, 0.0])
    icl = torch.tensor([0.0, 2.0, 0.0])  # unit: (0, 1, 0); update (-1, 1, 0)
    assert float(metrics.simaou(icl, zs, torch.tensor([0.0, 5.0, 0.0]))) == pytest.approx(1.0)
    # FT's unit output (1, -1, 0)/sqrt2: update (1/sqrt2 - 1, -1/sqrt2, 0), dot with (-1, 1, 0) = 1 - sqrt2,
    # norms sqrt2 and sqrt(2 - sqrt2)
    r2 = 2 ** 0.5
    expected = (1 - r2) / (r2 * (2 - r2) ** 0.5)
    assert float(metrics.simaou(icl, zs, torch.tensor([3.0, -3.0, 0.0]))) == pytest.approx(expected)
    # FT's unit output (0, 0, 1): update (-1, 0, 1); cos with (-1, 1, 0) = 1 / (sqrt2 sqrt2) = 0.5
    assert float(metrics.simaou(icl, zs, torch.tensor([0.0, 0.0, 7.0]))) == pytest.approx(0.5)
    per_layer = metrics.simaou(torch.stack([icl, icl]), torch.stack([zs, zs]), torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 7.0]]))
    torch.testing.assert_close(per_layer, torch.tensor([1.0, 0.5]))  # batched over leading dims


def test_simam_is_the_head_mean_of_cosines():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # (H = 2, T = 2)
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0]])  # head 0 orthogonal (0), head 1 parallel (1)
    assert float(metrics.simam(a, b)) == pytest.approx(0.5)
    assert float(metrics.simam(a, -a)) == pytest.approx(-1.0)


def brute_force_tau(x, y):
    """Kendall's tau-a by counting concordant and discordant pairs (no ties in the inputs)."""
    pairs = list(itertools.combinations(range(len(x)), 2))
    score = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in pairs)
    return score / len(pairs)


def test_kendall_against_scipy_and_a_brute_force_count():
    from scipy.stats import kendalltau

    gen = np.random.default_rng(0)
    for n in (2, 5, 17):
        x, y = gen.normal(size=n), gen.normal(size=n)
        assert float(metrics.kendall_tau(torch.tensor(x), torch.tensor(y))) == pytest.approx(brute_force_tau(x, y))
        xt, yt = gen.integers(0, 3, size=n).astype(float), gen.integers(0, 3, size=n).astype(float)  # ties: tau-b
        expected = kendalltau(xt, yt).statistic
        got = float(metrics.kendall_tau(torch.tensor(xt), torch.tensor(yt)))
        assert got == pytest.approx(expected) or (np.isnan(got) and np.isnan(expected))
    assert float(metrics.kendall_tau(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0]))) == -1.0


def test_exact_dual_identity_in_float64():
    """W_V [X', X] (W_K [X', X])^T q = W_ZSL q + dW_ICL q to rounding (max abs error <= 1e-5)."""
    gen = torch.Generator().manual_seed(0)
    w_k, w_v = torch.randn(2, 6, 8, generator=gen, dtype=torch.float64)
    x_demo, x_zs = torch.randn(5, 8, generator=gen, dtype=torch.float64), torch.randn(3, 8, generator=gen, dtype=torch.float64)
    q = torch.randn(6, generator=gen, dtype=torch.float64)
    x = torch.cat([x_demo, x_zs])
    full = (w_v @ x.T) @ (w_k @ x.T).T @ q  # the formula as written
    torch.testing.assert_close(dual.linear_attention(q, x @ w_k.T, x @ w_v.T), full)
    w_zsl, dw_icl = dual.dai_dual_weights(x_demo @ w_k.T, x_demo @ w_v.T, x_zs @ w_k.T, x_zs @ w_v.T)
    torch.testing.assert_close(dw_icl, sum(torch.outer(w_v @ xi, w_k @ xi) for xi in x_demo))  # sum of outer products
    assert float((full - (w_zsl @ q + dw_icl @ q)).abs().max()) <= 1e-5


def test_relaxation_error_on_a_single_key():
    """One key: softmax attention returns v; the relaxed form returns (k.q) v, so error |k.q - 1|."""
    q = torch.tensor([[2.0, 0.0]])  # (H = 1, Dk)
    k, v = torch.tensor([[[1.5, 3.0]]]), torch.tensor([[[1.0, -1.0]]])  # (H, T = 1, D)
    rel, cos = dual.relaxation_error(q, k, v, scale=0.5)
    assert float(rel) == pytest.approx(2.0) and float(cos) == pytest.approx(1.0)  # k.q = 3


def test_momentum_attention_adds_an_explicit_moving_average_of_values():
    """momentum output - softmax output (same weights) = W_proj sum_{i<t} eta^(t-i) v_i."""
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=1, n_head=2, d_model=8, d_mlp=0, n_positions=6, n_dims_in=3, attention="momentum",
                      momentum_eta=0.3)
    model = GPT(cfg).double()
    vanilla = GPT(ModelConfig(**{**cfg.__dict__, "attention": "softmax"})).double()
    vanilla.load_state_dict(model.state_dict())
    attn, x = model.blocks[0].attn, torch.randn(2, 5, 8, dtype=torch.float64)
    v = attn.qkv(x)[..., 16:]  # (B, T, C) values, heads side by side
    ema = torch.stack([sum(0.3 ** (t - i) * v[:, i] for i in range(t)) if t else torch.zeros_like(v[:, 0])
                       for t in range(5)], dim=1)
    torch.testing.assert_close(attn(x) - vanilla.blocks[0].attn(x), ema @ attn.proj.weight.T)
    with pytest.raises(ConfigError, match="momentum_eta"):
        GPT(ModelConfig(**{**cfg.__dict__, "momentum_eta": 1.0}))


def test_untrained_copy_keeps_shapes_and_is_seeded():
    torch.manual_seed(0)
    cfg = ModelConfig(n_layer=1, n_head=2, d_model=8, d_mlp=16, n_positions=6, vocab_size=10, n_dims_in=0)

    class Wrapped:  # the lm interface reinit_ needs
        def __init__(self):
            self.model = GPT(cfg)

        def named_parameters(self):
            return self.model.named_parameters()

    a, b = Wrapped(), Wrapped()
    before = {n: p.clone() for n, p in a.named_parameters()}
    matched_finetuning.reinit_(a, seed=3)
    matched_finetuning.reinit_(b, seed=3)
    for name, p in a.named_parameters():
        assert p.shape == before[name].shape
        torch.testing.assert_close(p, dict(b.named_parameters())[name])  # same seed, same weights
    assert not torch.equal(a.model.blocks[0].attn.qkv.weight, before["blocks.0.attn.qkv.weight"])
    assert a.model.blocks[0].ln1.weight.detach().min() == 1.0 and a.model.blocks[0].attn.qkv.bias.detach().abs().max() == 0.0


@pytest.fixture(scope="module")
def pipeline_checkpoint(tmp_path_factory):
    from icl_study.train import train

    run = {"task": "concepts", "task_config": {"n_classes": 16, "n_labels": 4, "context_len": 4, "bursty_shots": 1},
           "model": {"n_layer": 2, "n_head": 2, "d_model": 16, "d_mlp": 32, "n_positions": 10, "vocab_size": 20},
           "train": {"steps": 3, "batch_size": 4, "warmup_steps": 1, "log_every": 3, "checkpoint_every": 3}}
    return str(train(run, tmp_path_factory.mktemp("pipeline")))


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    """A 2-layer random Llama (grouped-query attention, as SmolLM2) with a small byte-level BPE."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from icl_study.lm import data

    path = tmp_path_factory.mktemp("tiny_llama")
    texts = [e.text for e in data.load_examples(data.TextTaskConfig(source="mr"))[:300]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts + ["Sentiment: positive negative"] * 20, vocab_size=400, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer)
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def check_tables(examples, layers, duals, n_layer):
    assert set(layers["layer"]) == set(range(n_layer))
    assert examples[["zs_correct", "icl_correct", "ft_correct"]].isin([0, 1]).all().all()
    assert layers[["simaou", "simaou_random", "kendall_token", "kendall_token_random"]].notna().all().all()
    assert layers[["simaou", "simaou_random"]].abs().max().max() <= 1 + 1e-6  # cosines
    assert duals["exact_max_abs_error"].max() <= 1e-5 * max(1.0, duals["exact_output_max_abs"].max())
    assert (duals["relaxed_rel_error"] >= 0).all()


def test_text_tables_on_a_tiny_llama(llama_dir):
    """The text path end to end (real MR prompts, GQA projections), trained and untrained."""
    from icl_study.lm.data import TextTaskConfig

    task = {k: getattr(TextTaskConfig(source="mr"), k) for k in TextTaskConfig.__dataclass_fields__}
    params = {"spec": f"hf:{llama_dir}", "model_name": "tiny", "task_name": "mr", "task": task, "untrained_seed": 0,
              "analysis": {"k": 2, "demo_seeds": [0, 1], "n_eval": 3, "n_val": 2, "eval_seed": 0,
                           "lr_grid": [0.01], "n_dual": 1}}
    frames = [dai.text_tables({**params, "variant": v}, None) for v in ("trained", "untrained")]
    for examples, layers, duals in frames:
        assert len(examples) == 6 and len(duals) == 2 * 2  # 2 seeds x 3 examples; 2 seeds x 1 prompt x 2 layers
        check_tables(examples, layers, duals, n_layer=2)
        # every text query is held out of its demonstrations: held-out FT is FT; a pretrained LM has no train seed
        assert (examples["ft_heldout_correct"] == examples["ft_correct"]).all() and examples["train_seed"].isna().all()
    assert not np.allclose(frames[0][1]["simaou"], frames[1][1]["simaou"])  # the control is another model


def test_concepts_summary_and_figures(pipeline_checkpoint, tmp_path):
    """pipeline-gpt episodes -> tables -> summary with intervals -> the four figures."""
    params = {"task_name": "concepts-fresh", "untrained_seed": 0,
              "analysis": {"k": 2, "ways": 2, "demo_seeds": [0], "n_eval": 4, "n_val": 2, "lr_grid": [0.1, 1.0], "n_dual": 1}}
    parts = [dai.concepts_tables(pipeline_checkpoint, {**params, "variant": v}) for v in ("trained", "untrained")]
    for examples, layers, duals in parts:
        check_tables(examples, layers, duals, n_layer=2)
        assert layers["simam_ft"].isna().all()  # a one-token query: SimAM undefined, not +-1
    table, curves, dual_summary, per_example = dai.summary_tables(*(pd.concat(p) for p in zip(*parts)), n_boot=20)
    acc = table[(table["metric"] == "acc_icl") & (table["variant"] == "trained")].iloc[0]
    assert acc["mean"] == parts[0][0]["icl_correct"].mean() and acc["low"] <= acc["mean"] <= acc["high"]
    # the per-example table: one row per (variant, demo set, example), with the layer-mean metrics
    assert len(per_example) == 2 * 4 and per_example["train_seed"].notna().all()
    layer_mean = parts[0][1].groupby("example")["simaou"].mean()
    trained = per_example[per_example["variant"] == "trained"].set_index("example")["simaou"]
    np.testing.assert_allclose(trained.sort_index(), layer_mean.sort_index())
    paths = {name: str(tmp_path / f"{name}.csv") for name in ("table", "curves", "dual", "momentum")}
    table.to_csv(paths["table"]), curves.to_csv(paths["curves"]), dual_summary.to_csv(paths["dual"])
    rows = [{"kind": k, "seed": s, "task": t, "k": kk, "demo_seed": 0, "metric": "accuracy", "value": 0.5}
            for k in ("softmax", "momentum") for s in (0, 1) for t in ("concepts-fresh", "concepts-iwl") for kk in (0, 2)]
    rows += [{"kind": k, "seed": s, "task": "validation", "k": -1, "demo_seed": -1, "metric": "val_loss", "value": 1.0}
             for k in ("softmax", "momentum") for s in (0, 1)]
    pd.DataFrame(rows).to_csv(paths["momentum"], index=False)
    from icl_study.plots import dai as plots

    outputs = [str(tmp_path / f"{name}.{ext}") for name in ("table", "layers", "dual", "momentum") for ext in ("png", "pdf")]
    plots.figures_rule(list(paths.values()), {}, outputs)
    assert all((tmp_path / f"{name}.png").stat().st_size > 0 for name in ("table", "layers", "dual", "momentum"))
    assert "Rec2FTP" in plots.markdown_table(paths["table"])


def test_activations_after_a_cached_prefix_equal_a_full_forward(llama_dir, pipeline_checkpoint):
    """The ICL activations are read after the demonstrations' KV cache: the same numbers as one
    forward over prefix + query, and the cache is left as it was (so it serves the next query)."""
    from icl_study.lm.activations import last_token_activations
    from icl_study.lm.models import load_lm

    for lm, prefix, query in ((load_lm(f"hf:{llama_dir}"), [5, 9, 17, 3, 40], [7, 8, 2]),
                              (load_lm("pipeline-gpt", pipeline_checkpoint), [1, 17, 2, 18], [3])):
        full = last_token_activations(lm, prefix + query, full=True)
        cache = lm.prefix_cache(prefix)
        for _ in range(2):  # twice: the second call sees the cropped cache
            cached = last_token_activations(lm, query, cache=cache, full=True)
            for name in ("attn_out", "q", "scores", "logits", "k", "v"):
                torch.testing.assert_close(cached[name], full[name], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(cached["q_all"], full["q_all"][:, :, -len(query):], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(cached["x"], full["x"][:, -len(query):], atol=1e-5, rtol=1e-4)


def test_summary_clusters_rows_by_test_example():
    """The Dai table's intervals resample unique test examples (each keeps its rows of every
    demonstration set), zero-shot is counted once per example, and the table says how many
    examples and demonstration sets stand behind each number."""
    rng = np.random.default_rng(0)
    n_examples, seeds = 40, (0, 1, 2)
    zs = rng.integers(0, 2, n_examples)  # zero-shot does not depend on the demonstration set
    rows = [("m", "mr", "trained", s, i, zs[i], rng.integers(0, 2), rng.integers(0, 2), 0.01)
            for s in seeds for i in range(n_examples)]
    examples = pd.DataFrame(rows, columns=dai.KEYS + ["zs_correct", "icl_correct", "ft_correct", "lr"])
    layers = pd.DataFrame([(*r[:5], 0, *rng.random(len(dai.LAYER_METRICS))) for r in rows],
                          columns=dai.KEYS + ["layer"] + dai.LAYER_METRICS)
    duals = pd.DataFrame([(*rows[0][:5], 0, 1.0, 0.5, 0.0, 1.0)], columns=dai.KEYS + ["layer"] + dai.DUAL_METRICS)
    table, curves, _, _ = dai.summary_tables(examples, layers, duals, n_boot=500)
    by_metric = table.set_index("metric")
    for metric, column in (("acc_icl", "icl_correct"), ("acc_zs", "zs_correct")):
        row = by_metric.loc[metric]
        assert row["n_examples"] == n_examples  # unique test examples, not examples x seeds
        once = metrics.cluster_bootstrap_ci(examples[column].to_numpy(float), examples["example"].to_numpy(), 500,
                                            seed=stream_seed(0, "bootstrap"))
        assert (row["mean"], row["low"], row["high"]) == pytest.approx(once[:3])
    assert by_metric.loc["acc_icl", "n_demo_sets"] == 3 and by_metric.loc["acc_zs", "n_demo_sets"] == 0
    assert by_metric.loc["acc_zs", "mean"] == pytest.approx(zs.mean())
    assert (curves["n_examples"] == n_examples).all()


def test_concept_finetuning_gives_the_key_projection_a_gradient(pipeline_checkpoint):
    """Each demonstration is finetuned inside its preceding context, so attention has several keys
    and the key projection gets a gradient (a one-token sequence gives it none)."""
    from icl_study.lm.finetune import example_loss
    from icl_study.lm.models import load_lm
    from icl_study.studies import shen

    lm = load_lm("pipeline-gpt", pipeline_checkpoint)
    tokens = torch.tensor([1, 17, 2, 18, 1, 17, 2])  # c1 l1 c2 l2 c1 l1 | query c2
    demo_set = concept_episode(tokens.tolist(), [17, 18], 1, k=3)
    assert [len(prompt) for prompt, _ in demo_set.train] == [1, 3, 5]  # c_i after the pairs before it
    cfg = shen.LMConfig(ns=(3,), n_episodes=2, ways=2)
    episodes = shen.fresh_label_episodes(lm, cfg, 3, "eval", 2)
    assert [len(prompt) for prompt, _ in episodes[0].train] == [1, 3, 5]
    qkv = lm.model.blocks[0].attn.qkv.weight
    for train in (demo_set.train, episodes[0].train):
        qkv.grad = None
        sum(example_loss(lm, prompt, target) for prompt, target in train).backward()
        d = qkv.shape[0] // 3
        assert qkv.grad[d:2 * d].abs().max() > 0  # rows [q | k | v]: the key rows


def test_kendall_ft_side_reads_queries_during_finetuning_before_rope(llama_dir):
    """FT's side of Kendall tau, as in the reference (fs_ft.py): each demonstration's queries are
    recorded at the weights of the step that trains on it (the first at the original weights, later
    ones after earlier steps), and they are pre-RoPE q_proj outputs."""
    from icl_study.lm.activations import last_token_activations
    from icl_study.lm.models import load_lm

    lm = load_lm(f"hf:{llama_dir}")
    demos = [[5, 9, 17], [3, 40, 8, 2], [11, 12]]
    demo_set = Episode(demos, [(d[:-1], d[-1]) for d in demos], [[7, 8, 2]], [[17, 40]], [0],
                          record=[(d, len(d)) for d in demos])
    before = [matched_finetuning.pre_rope_queries(lm, last_token_activations(lm, d, full=True)["x"]) for d in demos]
    q_proj = {}
    handle = lm.model.model.layers[1].self_attn.q_proj.register_forward_hook(
        lambda m, i, o: q_proj.setdefault("out", o[0].detach()))
    last_token_activations(lm, demos[1])
    handle.remove()
    n_head = lm.model.config.num_attention_heads
    torch.testing.assert_close(before[1][1], q_proj["out"].view(len(demos[1]), n_head, -1).transpose(0, 1))  # pre-RoPE
    _, q_ft, train_q = matched_finetuning.ft_side(lm, demo_set, lr=0.5)
    assert train_q.shape[2] == sum(map(len, demos)) and q_ft.shape == (1, *train_q.shape[:2], train_q.shape[-1])
    torch.testing.assert_close(train_q[:, :, :3], before[0])  # demonstration 0: recorded before any step
    assert not torch.allclose(train_q[:, :, 3:7], before[1])  # demonstration 1: after step 0 moved K/V


def test_simaou_random_baseline_is_a_zero_mean_direction():
    """The random update SimAOU is compared with has no preferred direction: over many layers its
    cosine with an all-positive update averages 0 (a U[0,1) draw, all-positive too, gave ~0.87)."""
    n_layer, width, heads, dh = 400, 16, 1, 2
    ones = torch.ones(n_layer, width)
    zs = {"attn_out": -ones, "scores": torch.zeros(n_layer, heads, 1)}
    icl = {"attn_out": ones, "scores": torch.zeros(n_layer, heads, 3)}  # 2 prefix tokens, 1 query token
    ft = {"attn_out": ones, "scores": torch.zeros(n_layer, heads, 1)}
    rows = matched_finetuning.layer_metrics(zs, icl, ft, torch.ones(n_layer, heads, dh), torch.ones(n_layer, heads, 2, dh),
                                            [1, 1], torch.Generator().manual_seed(0))
    simaou_random = rows[:, dai.LAYER_METRICS.index("simaou_random")]  # (L,)
    assert abs(simaou_random.mean()) < 0.05 and simaou_random.std() > 0.1


def test_concepts_lr_is_picked_by_validation_label_nll(pipeline_checkpoint):
    """The finetuning lr is the grid's lowest validation label NLL (continuous, so a grid that barely
    moves accuracy on a few episodes still has a best lr), not tied accuracy."""
    from icl_study.episodes import concept_episodes
    from icl_study.lm.models import load_lm
    from icl_study.rng import generator
    from icl_study.tasks.concepts import ConceptsTask

    lm = load_lm("pipeline-gpt", pipeline_checkpoint)
    task = ConceptsTask(lm.run_config.task_config, lm.run_config.train.seed)
    val = concept_episodes(task.fewshot_prompts(generator(0, "probe", 2), 4, 2, 2, True), 2)
    grid = (0.01, 1.0, 30.0)
    lr, scores = dai.pick_concepts_lr(lm, val, grid)
    assert set(scores) == set(grid) and len(set(scores.values())) == 3  # NLLs differ where accuracies tie
    assert lr == min(scores, key=scores.get)
    assert scores[0.01] == pytest.approx(matched_finetuning.ft_label_nll(lm, val, 0.01))
