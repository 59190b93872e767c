"""The files a run's jobs leave next to what they made, by name.

Written by the training container (openforge_training/export.py next to the model,
openforge_training/evaluation/report.py in the evaluation job's output) and by the PickModel
Lambda (openforge_lambda/selection.py, the mixes' comparison in the run's report prefix);
read by PickModel, the local runner (pipeline/local/), the training container's MLflow
upload and the forgetting experiment (experiments/forgetting.py).
"""
from __future__ import annotations

# Beside a training job's model (<job>/output/model/).
RUN_RECORD = "openforge-run.json"  # base model, data versions, the mix, steps, final loss, MLflow run id
MODEL_CARD = "README.md"  # the same, for a person; Hugging Face shows a model folder's README.md as its card
# In an evaluation job's output.
EVALUATION_RESULTS = "evaluation.json"  # every benchmark, base and tuned, and the forgetting gate's verdict
EVALUATION_REPORT = "evaluation.md"
# In the run's report prefix (PickModel): every mix side by side, and the choice.
COMPARISON_RESULTS = "comparison.json"
COMPARISON_REPORT = "comparison.md"
COMPARISON_CHART = "comparison.svg"
