"""Generated data for everything that runs without a customer: the training sandbox
(``python -m synthetic_data.sandbox``, ``make train-example``), the demo's S3 stand-in
(``pipeline.demo_data``), the forgetting experiment (``experiments.forgetting``), the tests
and the benchmarks. Nothing is downloaded, and every generator takes an explicit seed or
``random.Random``, so the same seed writes the same bytes.

A development and test tool, not shipped: the training image copies ``openforge_training``
and ``sanitiser`` only, and the Lambda layer does not carry it, so nothing that runs in AWS
may import it.

    tickets.py        the customer task: one support-ticket label set and generator
    tiny_model.py     a Llama-architecture model from a config, a BPE tokenizer trained here
    basic_skills.py   the small curated pool a tiny model learns in a few steps (sandbox,
                      demo), and the same skills as MMLU, IFEval and BYOD files
    files.py          JSONL and CSV writers, the evaluation channel's benchmark files
    sandbox.py        a SageMaker job's input folder: the model and data channels
    curriculum/       the forgetting experiment's general curriculum, customer task and
                      benchmark files
"""
