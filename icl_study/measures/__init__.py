"""Measurements shared by several studies: pure functions over models, episodes and tensors.

One file per concern: order sensitivity (`order`), weight perturbation and sparsity
(`perturbation`), ICL vs matched finetuning (`matched_finetuning`), softmax attention vs its dual
model (`dual_fit`), squared prediction difference to reference predictors (`spd`), linear and MLP
probes of hidden states (`probes`), Rec2FTP's Wilson interval on Dai's per-example table
(`rec2ftp`, torch-free). A study module composes them; none imports a study module.
"""
