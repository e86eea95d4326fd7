"""Training-step throughput: our GPT vs a model of identical size on Hugging Face's GPT2Model.

Garg et al.'s reference code wraps transformers' GPT2Model with a linear read-in and read-out; this
builds that peer with the same width, depth, heads, positions and parameter count as ours, feeds
both the same regression batches, and times AdamW training steps in the same process with the same
thread setting. Prints steps/s of each and the ratio ours/peer.

    python benchmarks/train_throughput.py [--steps 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time


def peer_model(n_dims: int, n_layer: int, n_head: int, d_model: int, n_positions: int):
    """Garg et al.'s TransformerModel: read-in -> GPT2Model(inputs_embeds) -> read-out."""
    import torch
    from transformers import GPT2Config, GPT2Model

    class GargTransformer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # vocab_size=1: the token embedding is unused with inputs_embeds; keep the sizes equal.
            cfg = GPT2Config(vocab_size=1, n_positions=n_positions, n_embd=d_model, n_layer=n_layer, n_head=n_head,
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False)
            self.read_in = torch.nn.Linear(n_dims, d_model)
            self.backbone = GPT2Model(cfg)
            self.read_out = torch.nn.Linear(d_model, 1)

        def forward(self, tokens):
            hidden = self.backbone(inputs_embeds=self.read_in(tokens)).last_hidden_state
            return self.read_out(hidden)

    return GargTransformer()


def time_steps(model, task, steps: int, batch_size: int) -> float:
    """Steps per second of forward + backward + AdamW step, after 10 warm-up steps."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = [task.sample(s, batch_size) for s in range(steps + 10)]
    for i, batch in enumerate(batches):
        if i == 10:
            start = time.perf_counter()
        loss = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from icl_study.config import ModelConfig
    from icl_study.model import GPT
    from icl_study.tasks.regression import RegressionTask

    torch.set_num_threads(args.threads)
    n_dims, n_points, n_layer, n_head, d_model = 5, 16, 3, 4, 64
    task = RegressionTask({"n_dims": n_dims, "n_points": n_points}, seed=0)
    ours = GPT(ModelConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, d_mlp=4 * d_model,
                           n_positions=2 * n_points, n_dims_in=n_dims))
    peer = peer_model(n_dims, n_layer, n_head, d_model, 2 * n_points)
    print(f"parameters: ours {sum(p.numel() for p in ours.parameters())}, "
          f"peer {sum(p.numel() for p in peer.parameters())}")
    results = {}
    for round_ in range(2):  # interleave two rounds so drift in machine load hits both alike
        for name, model in (("ours", ours), ("peer", peer)):
            results.setdefault(name, []).append(time_steps(model, task, args.steps, args.batch_size))
    ours_sps, peer_sps = max(results["ours"]), max(results["peer"])
    print(f"threads={args.threads} batch={args.batch_size} d={n_dims} T={2 * n_points} "
          f"{n_layer}L/{d_model}d/{n_head}h")
    print(f"ours: {ours_sps:.1f} steps/s   peer (transformers GPT2Model): {peer_sps:.1f} steps/s")
    print(f"ratio ours/peer: {ours_sps / peer_sps:.2f}")


if __name__ == "__main__":
    main()
