"""The forgetting gate: pass, fail on a general drop, fail without a domain gain."""
import pytest

from openforge_training.evaluation.gate import FORGETTING_REMEDY, Limits, verdict


def results(mmlu_tuned=0.60, ifeval_tuned=0.50, byod_tuned=0.80, byod_base=0.40):
    return {
        "mmlu_0shot": {"kind": "general", "metric": "acc", "base": 0.60, "tuned": mmlu_tuned},
        "ifeval": {"kind": "general", "metric": "prompt_level_strict_acc", "base": 0.50, "tuned": ifeval_tuned},
        "byod": {"kind": "domain", "metric": "accuracy", "base": byod_base, "tuned": byod_tuned},
    }


def test_kept_skills_and_a_domain_gain_pass():
    gate = verdict(results(mmlu_tuned=0.585), Limits())  # 97.5 % kept
    assert gate["passed"] and not gate["reasons"] and not gate["remedy"]
    assert [c["passed"] for c in gate["checks"]] == [True, True, True]


def test_a_general_drop_fails_with_the_numbers_and_the_mix_first_remedy():
    gate = verdict(results(mmlu_tuned=0.45), Limits())
    assert not gate["passed"]
    assert gate["reasons"] == ["mmlu_0shot kept 75.0% of the base model's acc (0.600 -> 0.450), below the 97% limit"]
    assert gate["remedy"] == FORGETTING_REMEDY and "curated share" in gate["remedy"]
    assert gate["cause"] == gate["reasons"][0]


def test_no_domain_gain_fails_even_when_general_skills_are_kept():
    gate = verdict(results(byod_tuned=0.41), Limits(min_domain_gain=0.05))
    assert not gate["passed"]
    assert gate["reasons"] == ["byod accuracy moved 0.400 -> 0.410 (+0.010), less than the required gain of +0.050"]
    assert "curated share" not in gate["remedy"]


def test_without_a_held_out_result_the_gate_cannot_pass():
    gate = verdict({k: v for k, v in results().items() if k != "byod"}, Limits())
    assert not gate["passed"] and "no held-out (BYOD) result" in gate["cause"]


def test_a_base_score_of_zero_has_nothing_to_lose():
    gate = verdict(results() | {"ifeval": {"kind": "general", "metric": "prompt_level_strict_acc", "base": 0.0, "tuned": 0.0}}, Limits())
    assert gate["passed"]


@pytest.mark.parametrize("kwargs", [{"min_general_retention": 0}, {"min_domain_gain": 2}])
def test_limits_out_of_range_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Limits(**kwargs)
