"""Measurements shared by several studies: pure functions over models, episodes and tensors.

One file per concern: order sensitivity (`order`), weight perturbation and sparsity
(`perturbation`), ICL vs matched finetuning (`matched_finetuning`), softmax attention vs its dual
model (`dual_fit`), squared prediction difference to reference predictors (`spd`), linear and MLP
probes of hidden states (`probes`). A study module composes them; none imports a study module.
"""
