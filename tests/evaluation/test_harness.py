"""MMLU and IFEval set up as lm-evaluation-harness sets them up, so the scores compare with
published ones: first-n few-shot from the dev split (or a clear refusal), and a context
with room for IFEval's generation, within what the model takes."""
import re
import shutil
from pathlib import Path

import pytest

from openforge_training import evaluate
from openforge_training.errors import InputError
from openforge_training.evaluation import harness
from openforge_training.evaluation.layout import mmlu_file
from synthetic_data.files import write_mmlu

DEV = [[f"Dev question {i}?", "red", "green", "blue", "grey", "ABCD"[i % 4]] for i in range(8)]
TEST = [[f"Test question {i}?", "one", "two", "three", "four", "B"] for i in range(4)]


def harness_yaml(name: str) -> dict:
    """The installed lm-eval's own task file, read here as the test's reference."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(Path(lm_eval.__file__).parent / "tasks" / name, resolve_func=False, recursive=False)


def ifeval_max_gen_toks() -> int:
    return harness_yaml("ifeval/ifeval.yaml")["generation_kwargs"]["max_gen_toks"]


@pytest.fixture(scope="module")
def lm(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    return harness.language_model(model, AutoTokenizer.from_pretrained(tiny_model), batch_size=8, max_length=evaluate.BenchmarkArguments.max_length)


def test_few_shot_mmlu_takes_the_first_n_dev_rows_in_file_order(lm, tmp_path, monkeypatch):
    write_mmlu(tmp_path, {"colours": (DEV, TEST)})
    contexts = []
    score = type(lm).loglikelihood

    def recorded(self, requests, **kwargs):
        contexts.extend(request.args[0] for request in requests)
        return score(self, requests, **kwargs)

    monkeypatch.setattr(type(lm), "loglikelihood", recorded)
    assert harness.mmlu(lm, tmp_path, shots=3, chat=False, limit=2).count == 2
    assert contexts
    for context in contexts:
        assert re.findall(r"(Dev|Test) question (\d+)", context)[:3] == [("Dev", "0"), ("Dev", "1"), ("Dev", "2")]
        assert len(re.findall(r"Dev question", context)) == 3
        assert context.count("Test question") == 1  # the scored one only: no examples drawn from the test split


def test_zero_shot_mmlu_needs_no_dev_file(lm, tmp_path):
    write_mmlu(tmp_path, {"colours": (DEV, TEST)})
    (tmp_path / mmlu_file("dev", "colours")).unlink()
    harness.check_files(tmp_path, ["mmlu"], [0])
    assert harness.mmlu(lm, tmp_path, shots=0, chat=False, limit=2).count == 2


@pytest.mark.parametrize("dev_rows, message", [(None, "has no few-shot examples for mmlu_shots=3: expected "),
                                               (2, "has 2 few-shot examples in "), (0, "has 0 few-shot examples in ")])
def test_few_shot_mmlu_without_enough_dev_rows_is_refused_naming_the_subject_and_file(tmp_path, dev_rows, message):
    write_mmlu(tmp_path, {"arithmetic": (DEV, TEST), "colours": (DEV[: dev_rows or 0], TEST)})
    dev = tmp_path / mmlu_file("dev", "colours")
    if dev_rows is None:
        dev.unlink()
    with pytest.raises(InputError, match=f"MMLU subject colours {re.escape(message)}{re.escape(str(dev))}"):
        harness.check_files(tmp_path, ["mmlu"], [0, 3])
    harness.check_files(tmp_path, ["mmlu"], [0])
    harness.check_files(tmp_path, ["mmlu"], [dev_rows] if dev_rows else [0])


def test_ifeval_needs_a_max_length_with_room_for_the_harness_generation(tmp_path):
    room = ifeval_max_gen_toks()

    def load(*extra):
        return evaluate.load(["--input_dir", str(tmp_path), *extra])

    with pytest.raises(InputError, match=f"max_length must be more than {room} with ifeval, got {room}: IFEval generates up to {room} tokens"):
        load("--max_length", str(room))
    assert load("--max_length", str(room + 1)).bench.max_length == room + 1
    assert load("--benchmarks", "mmlu,byod", "--max_length", "256").bench.max_length == 256  # no generation in lm-eval: no room needed
    assert load().bench.max_length > room  # the default


def test_max_length_past_the_models_positions_is_refused_before_it_loads(tiny_model, tmp_path):
    from transformers import AutoConfig

    positions = AutoConfig.from_pretrained(tiny_model).max_position_embeddings
    assert positions >= evaluate.BenchmarkArguments.max_length > ifeval_max_gen_toks()  # the tiny model is evaluated with the defaults
    harness.check_context([tiny_model], positions)
    with pytest.raises(InputError, match=f"max_length={positions + 1} is longer than the model in {re.escape(str(tiny_model))} takes "
                                         f"\\({positions} tokens, its max_position_embeddings\\)"):
        harness.check_context([tiny_model], positions + 1)
    shutil.copytree(tiny_model, tmp_path / "model", ignore=shutil.ignore_patterns("config.json"))
    with pytest.raises(InputError, match="cannot read the model config in "):
        harness.check_context([tmp_path / "model"], positions)


def test_the_harness_settings_come_from_its_own_task_files(tmp_path):
    """The MMLU template's few-shot split and sampler, IFEval's whole generation settings."""
    template = harness_yaml("mmlu/default/_default_template_yaml")
    write_mmlu(tmp_path, {"colours": (DEV, TEST)})
    task = harness.mmlu_task(tmp_path, "colours", shots=5)
    assert (task["fewshot_split"], task["fewshot_config"]) == (template["fewshot_split"], template["fewshot_config"])
    assert task["dataset_kwargs"]["data_files"][template["fewshot_split"]] == str(tmp_path / mmlu_file("dev", "colours"))
    assert "fewshot_split" not in harness.mmlu_task(tmp_path, "colours", shots=0)
    assert harness.ifeval_generation() == harness_yaml("ifeval/ifeval.yaml")["generation_kwargs"]
