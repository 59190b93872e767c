"""A generated curriculum for the forgetting experiment, small enough for a tiny model on a CPU.

A ~1-3M-parameter model is pre-trained from scratch on a *general* curriculum, fine-tuned on
a *customer* task either alone or mixed with a *curated* pool from the general distribution,
and scored on MMLU-, IFEval- and BYOD-format files; customer-only fine-tuning should forget
general skills that mixing keeps. The general curriculum has three categories:

- ``factuality``: facts about invented entities (``What colour is Zorvan?`` -> ``green``),
  as short questions and as MMLU-format multiple choice answered by one letter;
- ``instruction_following``: list requests with IFEval's verifiable instructions;
- ``reasoning``: two-digit arithmetic (a fixed set of problems, taught like facts, plus fresh
  ones), the largest of a few numbers, sorting.

The customer task, support-ticket classification (``synthetic_data.tickets``), appears nowhere in the general curriculum,
so the base model does not know it. Files written by ``write_experiment_data``:

    pretrain/general.jsonl                   all three categories, shuffled
    curated/<category>/part-000.jsonl        the curated pool: fresh draws, same distribution
    customer/tickets.jsonl                   {"input", "output"} ticket classification
    eval/mmlu/{dev,test}/<subject>_*.csv     see openforge_training.evaluation.layout
    eval/ifeval/input_data.jsonl
    eval/byod/heldout.jsonl                  held-out tickets, none identical to a training one

Every part draws from its own ``random.Random`` stream derived from ``seed``, so the same seed
gives byte-identical files.

    knowledge.py      the facts: invented entities, arithmetic problems, category questions
    exercises.py      factuality and reasoning records, copying
    instructions.py   instruction-following examples (also the IFEval items)
    benchmarks.py     the MMLU rows
    dataset.py        sizes, the whole data set, the files, the tokenizer's texts
"""
from synthetic_data.curriculum.dataset import ExperimentData, Sizes, build_experiment_data, corpus_texts, write_experiment_data

__all__ = ["ExperimentData", "Sizes", "build_experiment_data", "corpus_texts", "write_experiment_data"]
