"""Review of issue 17 (capacity plan): inputs a user controls that once made ValidateInput raise,
skipped the capacity check, or got a fix that was refused again; each now gets a verdict."""
import json

import pytest

from tests.lambdas.conftest import LambdaContext
from tests.lambdas.test_validate_input import (
    MINIMAL,
    handler,  # noqa: F401  (the fixture)
    put_base_model_config,
)

from openforge_contract.capacity import UnsupportedModel  # isort: skip
from openforge_contract.capacity_plan import plan_training  # isort: skip
from openforge_contract.reference_models import CONFIGS  # isort: skip

LLAMA = json.dumps(CONFIGS["Llama-3.1-8B"])
BAD_CONFIGS = {
    "hidden_size a word": json.dumps({**CONFIGS["Llama-3.1-8B"], "hidden_size": "big"}).encode(),
    "hidden_size null": json.dumps({**CONFIGS["Llama-3.1-8B"], "hidden_size": None}).encode(),
    "zero attention heads": json.dumps({**CONFIGS["Llama-3.1-8B"], "num_attention_heads": 0}).encode(),
    "hidden_size NaN": LLAMA.replace('"hidden_size": 4096', '"hidden_size": NaN').encode(),
    "vocab_size 1e400": LLAMA.replace('"vocab_size": 128256', '"vocab_size": 1e400').encode(),
    "vocab_size of 400 digits": LLAMA.replace('"vocab_size": 128256', '"vocab_size": 1' + "0" * 400).encode(),
    "an integer of 5000 digits": b'{"model_type": "llama", "vocab_size": ' + b"1" * 5000 + b"}",
    "arrays nested 100k deep": b'{"model_type": "llama", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "an empty file": b"",
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_a_config_json_the_plan_cannot_read_is_a_verdict_not_an_exception(handler, name):  # noqa: F811
    put_base_model_config(BAD_CONFIGS[name])
    result = handler({"input": MINIMAL, "execution_name": "run-1"}, LambdaContext())
    assert result["valid"] is False and result["error"]["field"] == "base_model_s3_uri", result


def test_lora_targets_peft_accepts_do_not_skip_the_capacity_check():
    try:
        plan = plan_training(CONFIGS["Llama-3.1-70B"], lora_target_modules="self_attn.q_proj,self_attn.v_proj", instance_type="ml.p5.48xlarge")
    except UnsupportedModel as error:
        pytest.fail(f"not checked: {error}")
    assert plan.settings["sharding"] == "full"


def test_applying_the_proposed_instance_count_gives_a_run_that_can_start():
    refused = plan_training(CONFIGS["Llama-3.1-70B"], method="full", instance_type="ml.p5.48xlarge")
    # 4 x 8 devices x 4 rows a device take 128 records a step: the default global batch of 32 cannot be split so.
    assert ", or 4 instances with global_batch_size 128 (needs" in refused.problems[0], refused.problems
    applied = plan_training(CONFIGS["Llama-3.1-70B"], method="full", instance_type="ml.p5.48xlarge", instance_count=4, global_batch_size=128)
    assert applied.problems == []
