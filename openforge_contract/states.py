"""The pipeline's state names, said once: the state machine (constructs/fine_tuning_pipeline/
and the sanitisation workflow's states, constructs/sanitisation_workflow.py) names its states
with these, the console shows them, the command-line client (pipeline/cli/) reads them
back from an execution's history, the CleanUpEndedRun Lambda finds a run's steps in it by
them, and the local runner (`make demo`) reports the same names as it visits the same steps.

Every upper-case string here is a state of the fine-tuning state machine, and every state is
named here (tests/test_pipeline_stack_shape.py checks both ways)."""

VALIDATE = "Validate the input"
INPUT_VALID = "Is the input valid?"
INPUT_INVALID = "Input invalid"
PLAN_SHARDS = "Plan shards (objects, or byte ranges of large ones)"
SANITISE = "Sanitise the data"  # a Distributed Map over the shards
SANITISE_SHARD = "Sanitise one shard"
SUMMARISE_SANITISATION = "Summarise and check the quarantine share"
QUARANTINE_CHECK = "Quarantined share within the limit?"
QUARANTINE_EXCEEDED = "Too much data quarantined"
VALIDATION_RUN = "Start the validation run (5 steps)"
WAIT_VALIDATION = "Wait for the validation run"
CHECK_VALIDATION = "Check the validation run"
VALIDATION_DONE = "Has the validation run finished?"
VALIDATION_FAILED = "Validation run failed"
MIXES = "Train and evaluate each mix"
TRAIN = "Start training"
WAIT_TRAINING = "Wait for training"
CHECK_TRAINING = "Check training"
TRAINING_DONE = "Has training finished?"
EVALUATE = "Start the evaluation"
WAIT_EVALUATION = "Wait for the evaluation"
CHECK_EVALUATION = "Check the evaluation"
EVALUATION_DONE = "Has the evaluation finished?"
MIX_RESULT = "Record the mix's result"
MIX_FAILED = {"training": "Record the failed training", "evaluation": "Record the failed evaluation"}
STOP_MIX = "Stop the mix's jobs"  # after a mix's error: its training or evaluation job would run on
MIX_ERROR = "Record the mix's error"
PICK = "Pick the model (forgetting gate)"
GATE = "Did a model pass the gate?"
GATE_FAILED = "No model passed the gate"
DEPLOY_WANTED = "Is a deployment requested?"
NO_DEPLOYMENT = "No deployment requested"
DEPLOY = "Deploy the private endpoint"
WAIT_ENDPOINT = "Wait for the endpoint"
CHECK_ENDPOINT = "Check the endpoint"
ENDPOINT_READY = "Is the endpoint in service?"
ROLL_BACK = "Roll back the endpoint"
ENDPOINT_FAILED = "Endpoint failed"
SUMMARISE = "Summarise the run"
NOTIFY_SUCCESS = "Notify: run finished"
SUCCEEDED = "Run finished"
CLEAN_UP = "Clean up after the failure"
CLEAN_UP_FAILED = "Record the clean-up's own failure"
NOTIFY_FAILURE = "Notify: run failed"
FAILED = "Run failed"

# The steps that do the work, in the order a successful run with a deployment visits them
# (polling and branching states left out): what the local runner reports.
WORK_STEPS = (VALIDATE, SANITISE, VALIDATION_RUN, TRAIN, EVALUATE, PICK, DEPLOY, SUMMARISE)
