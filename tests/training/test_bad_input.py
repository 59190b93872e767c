"""Bad input stops the run before any model is loaded, with a message naming the problem,
written where SageMaker shows it (the job's FailureReason)."""
import json

import pytest

from openforge_training import train


def run_main(job, **flags):
    code = train.main(job.argv(**flags))
    failure = job.root / "output" / "failure"
    return code, failure.read_text() if failure.exists() else ""


@pytest.fixture
def ready(job):
    return job.write_data(customer=16, per_category=8)


def test_missing_customer_channel(job):
    job.write_data(customer=16, per_category=8)
    import shutil

    shutil.rmtree(job.data / "customer")
    code, failure = run_main(job)
    assert code == 2 and "channel 'customer' is missing" in failure and str(job.data / "customer") in failure


def test_missing_model_channel(ready):
    import shutil

    shutil.rmtree(ready.data / "model")
    assert "channel 'model' is missing" in run_main(ready)[1]


def test_empty_category_pool(ready):
    (ready.data / "curated" / "reasoning" / "part-000.jsonl").write_text("\n\n")
    assert "curated category 'reasoning' has no records" in run_main(ready)[1]


def test_weights_not_summing_to_100(ready):
    code, failure = run_main(ready, curated_weights='{"reasoning": 40, "factuality": 40}')
    assert code == 2 and "must sum to 100, got 80" in failure


def test_weights_naming_a_category_that_is_not_there(ready):
    assert "names category safety but the curated channel has no subfolder or file prefix" in run_main(ready, curated_weights='{"reasoning": 50, "safety": 50}')[1]


def test_unknown_format_names_file_and_line(ready):
    path = ready.data / "customer" / "tickets-001.jsonl"
    with open(path, "a") as f:
        f.write('{"prompt": "a", "completion": "b"}\n')
    lines = len(path.read_text().splitlines())
    code, failure = run_main(ready)
    assert code == 2 and f"{path}:{lines}: unknown format" in failure


def test_record_that_cannot_be_rendered_names_file_and_line(ready):
    path = ready.data / "curated" / "factuality" / "part-000.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = json.dumps({"messages": [{"role": "user", "content": "question with no answer"}]})
    path.write_text("\n".join(lines) + "\n")
    assert f"{path}:3: the conversation must end with an assistant turn" in run_main(ready)[1]


def test_invalid_utf8_names_file_and_line(ready):
    path = ready.data / "customer" / "tickets-000.jsonl"
    path.write_bytes(path.read_bytes() + b'{"input": "\xff\xfe", "output": "x"}\n')
    assert "not valid UTF-8" in run_main(ready)[1]


def test_unknown_hyperparameter_in_the_sagemaker_file(ready):
    (ready.input / "config").mkdir()
    (ready.input / "config" / "hyperparameters.json").write_text(json.dumps({"lora_rnak": "8"}))
    assert "unknown hyperparameter 'lora_rnak'" in run_main(ready)[1]


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"method": "qlora"}, "method must be 'lora' or 'full'"),
        ({"global_batch_size": 10, "per_device_batch_size": 4}, r"global_batch_size \(10\) must be a multiple of per_device_batch_size"),
        ({"customer_data_percent": 0, "curated_weights": '{"reasoning": 100}'}, "set max_steps"),
        ({"curated_weights": "reasoning=50"}, "curated_weights is not valid JSON"),
        ({"lora_target_modules": "qkv_proj", "max_steps": 1},
         r"lora_target_modules 'qkv_proj' names no module of this model .*its linear modules are: down_proj, .*q_proj"),
    ],
)
def test_bad_settings(ready, flags, message):
    code, failure = run_main(ready, **flags)
    assert code == 2
    assert pytest.importorskip("re").search(message, failure), failure


def test_nothing_is_written_to_the_model_folder_on_bad_input(ready):
    run_main(ready, method="qlora")
    assert not ready.output.exists() and not ready.checkpoints.exists()


@pytest.mark.parametrize("line, message", [
    ('{"input": "a", "output": "b", "meta": ' + '{"x": ' * 1000 + "1" + "}" * 1000 + "}", "the record is nested more than 64 levels deep"),
    ('{"input": "jane@example.com", "input": "a", "output": "b"}', "the key 'input' appears twice in one object"),
    (json.dumps({"input": "a" * (2 * 1024 * 1024), "output": "b"}), "the record is 2097180 bytes, over the limit of 2097152"),
], ids=["deep", "duplicate-key", "too-long"])
def test_records_the_sanitiser_refuses_stop_the_run_naming_file_and_line(ready, line, message):
    path = ready.data / "customer" / "tickets-000.jsonl"
    with open(path, "a") as f:
        f.write(line + "\n")
    lines = len(path.read_text().splitlines())
    code, failure = run_main(ready)
    assert code == 2 and f"{path}:{lines}: {message}" in failure
