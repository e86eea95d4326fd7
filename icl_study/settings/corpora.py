"""Task corpora that more than one study trains on, declared once."""

# The concept corpus (icl_study/tasks/concepts.py) scaled down for small CPU runs: Dai et al.'s
# softmax-vs-momentum pretraining and Ren & Liu's attention variants on tokens train on it.
SMALL_CONCEPTS = {
    "n_classes": 512,  # class tokens (Zipfian frequencies)
    "n_labels": 16,  # label tokens; each class has one fixed label
    "zipf_exponent": 1.0,  # class frequency ~ (rank + 1)^-exponent
    "context_len": 8,  # (class, label) pairs before the query
    "bursty_shots": 3,  # copies of each bursty class in a bursty context
    "bursty_ways": 2,  # bursty classes per context
    "p_bursty": 0.9,  # fixed-label sequences that are bursty
    "p_fresh": 0.25,  # sequences relabelled afresh: only ICL can label them
    "eval_ways": 2,  # ways of the ICL evaluator logged during training
    "eval_size": 256,  # episodes per logged evaluation
}
