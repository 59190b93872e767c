"""The forgetting gate: skill above chance, changes against sampling noise, uninformative
benchmarks, no general check without a waiver, and the domain gain beyond noise."""
import re

import pytest

from openforge_contract.gate_words import FORGOT, IMPROVED, KEPT, NO_CHANGE, UNINFORMATIVE, general_in_words
from openforge_training.evaluation.gate import (
    FORGETTING_REMEDY, NO_GENERAL_CHECK_REMEDY, Limits, chance_level, change_interval, limit_change, score_interval, skill_retention, verdict,
)


def entry(kind, base, tuned, count, metric="acc"):
    return {"kind": kind, "metric": metric, "base": base, "tuned": tuned, "count": count}


def results(mmlu=(0.60, 0.60), ifeval=(0.80, 0.80), byod=(0.40, 0.80), count=300):
    return {
        "mmlu_0shot": entry("general", *mmlu, count),
        "ifeval": entry("general", *ifeval, count, "prompt_level_strict_acc"),
        "byod": entry("domain", *byod, count, "accuracy"),
    }


def test_the_intervals_are_the_published_ones():
    # Newcombe 1998: Wilson's interval for 81/263, and method 10 for 56/70 - 48/80.
    assert score_interval(81 / 263, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert change_interval(48 / 80, 56 / 70, 80, 70) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_chance_is_one_in_four_for_multiple_choice_and_zero_for_free_text():
    assert chance_level("mmlu_0shot") == chance_level("mmlu_5shot") == 0.25
    assert chance_level("ifeval") == chance_level("byod") == 0.0
    assert skill_retention(0.55, 0.40, 0.25) == pytest.approx(0.5)  # raw tuned / base would say 73 %
    assert skill_retention(0.25, 0.30, 0.25) is None
    assert skill_retention(0.55, 0.55 + limit_change(0.55, 0.25, 0.97), 0.25) == pytest.approx(0.97)


def test_kept_skills_and_a_domain_gain_pass_in_words():
    gate = verdict(results(), Limits())
    assert gate["passed"] and not gate["reasons"] and not gate["remedy"]
    assert [c["passed"] for c in gate["checks"]] == [True, True, True]
    assert gate["cause"] == ("passed: general skills mmlu_0shot no measurable change (0.600 -> 0.600), ifeval no measurable change "
                             "(0.800 -> 0.800); "
                             "the held-out score improved")


def test_a_drop_beyond_noise_under_the_limit_is_forgetting_with_the_numbers_and_the_mix_first_remedy():
    benchmarks = results(ifeval=(0.845, 0.179), count=84)
    gate = verdict(benchmarks, Limits())
    assert not gate["passed"] and benchmarks["ifeval"]["status"] == FORGOT
    assert gate["reasons"] == ["ifeval forgot: it kept 21% of the base model's skill above chance (prompt_level_strict_acc "
                               "0.845 -> 0.179, chance 0.00; the drop is beyond the noise of 84 items), below the 97% limit"]
    assert gate["remedy"] == FORGETTING_REMEDY and gate["cause"] == gate["reasons"][0]


def test_retention_is_measured_above_chance():
    # 0.60 -> 0.50 on MMLU keeps 83 % of the raw score but 71 % of the skill above chance.
    benchmarks = results(mmlu=(0.60, 0.50), count=2000)
    gate = verdict(benchmarks, Limits(min_general_retention=0.8))
    assert benchmarks["mmlu_0shot"]["retention"] == pytest.approx(0.25 / 0.35, abs=1e-4)
    assert not gate["passed"] and "kept 71% of the base model's skill above chance" in gate["cause"]


def test_a_drop_within_noise_is_not_forgetting_and_says_so():
    benchmarks = results(ifeval=(0.50, 0.40), count=50)  # -0.10 on 50 prompts: inside the interval
    gate = verdict(benchmarks, Limits())
    assert gate["passed"] and benchmarks["ifeval"]["status"] == NO_CHANGE
    assert benchmarks["ifeval"]["change_interval"][0] < 0 < benchmarks["ifeval"]["change_interval"][1]
    assert gate["notes"] == ["ifeval moved 0.500 -> 0.400 (kept 80% of the skill above chance), a change within the noise "
                             "of 50 items: more items would tell whether it forgot"]


def test_a_model_pushed_below_chance_kept_none_of_the_skill():
    benchmarks = results(mmlu=(0.363, 0.210))
    gate = verdict(benchmarks, Limits())
    assert benchmarks["mmlu_0shot"]["retention"] < 0 and benchmarks["mmlu_0shot"]["status"] == FORGOT
    assert gate["reasons"][0].startswith("mmlu_0shot forgot: it kept none (below chance) of the base model's skill above chance")
    assert general_in_words(benchmarks["mmlu_0shot"]) == "kept none (below chance) (forgot)"


def test_a_measured_drop_that_keeps_enough_passes_as_kept():
    benchmarks = results(ifeval=(0.80, 0.78), count=100_000)
    gate = verdict(benchmarks, Limits())
    assert gate["passed"] and benchmarks["ifeval"]["status"] == KEPT


def test_a_rise_beyond_noise_is_improved_not_a_retention_above_100_percent():
    benchmarks = results(ifeval=(0.40, 0.70))
    assert verdict(benchmarks, Limits())["passed"] and benchmarks["ifeval"]["status"] == IMPROVED
    assert "improved 0.400 -> 0.700" in verdict(results(ifeval=(0.40, 0.70)), Limits())["cause"]


def test_a_base_at_chance_is_uninformative_and_cannot_pass_the_gate_on_its_own():
    # The case: a model at chance on MMLU (0.26 -> 0.253) "kept 97 %" under tuned / base.
    only_mmlu = {"mmlu_0shot": entry("general", 0.26, 0.253, 300), "byod": entry("domain", 0.0, 0.5, 100)}
    gate = verdict(only_mmlu, Limits())
    assert only_mmlu["mmlu_0shot"]["status"] == UNINFORMATIVE and only_mmlu["mmlu_0shot"]["retention"] is None
    assert not gate["passed"]
    assert "no general check: the base model is at chance on every general benchmark" in gate["cause"]
    assert NO_GENERAL_CHECK_REMEDY in gate["remedy"]
    assert any("not above chance (0.25) beyond noise" in note for note in gate["notes"])


@pytest.mark.parametrize("base", [0.0, 0.001])
def test_a_free_text_base_at_zero_cannot_make_any_retention(base):
    benchmarks = {"ifeval": entry("general", base, 0.25, 84), "byod": entry("domain", 0.1, 0.6, 100)}
    gate = verdict(benchmarks, Limits())
    assert benchmarks["ifeval"]["status"] == UNINFORMATIVE and not gate["passed"]


def test_no_general_benchmark_is_refused_unless_waived():
    held_out_only = {"byod": entry("domain", 0.1, 0.6, 100)}
    refused = verdict(dict(held_out_only), Limits())
    assert not refused["passed"] and refused["cause"].startswith("no general check: no general benchmark was scored")
    waived = verdict(dict(held_out_only), Limits(waive_general_check=True))
    assert waived["passed"] and waived["limits"]["waive_general_check"] is True and waived["general_check_waived"] is True
    assert refused["general_check_waived"] is False
    assert waived["notes"] == ["general check waived: no general benchmark was scored, so nothing shows whether general skill was kept"]


def test_no_domain_gain_fails_even_when_general_skills_are_kept():
    gate = verdict(results(byod=(0.40, 0.41)), Limits(min_domain_gain=0.05))
    assert not gate["passed"]
    assert gate["reasons"] == ["byod accuracy moved 0.400 -> 0.410 (+0.010), less than the required gain of +0.050"]
    assert "curated share" not in gate["remedy"]


def test_a_domain_gain_within_noise_is_not_a_gain():
    gate = verdict(results(byod=(0.40, 0.50), count=30), Limits(min_domain_gain=0.05))
    assert not gate["passed"]
    assert "(+0.100), within the noise of 30 items, with a required gain of +0.050" in gate["cause"]


def test_without_a_held_out_result_the_gate_cannot_pass():
    gate = verdict({k: v for k, v in results().items() if k != "byod"}, Limits())
    assert not gate["passed"] and "no held-out (BYOD) result" in gate["cause"]


@pytest.mark.parametrize("kwargs", [{"min_general_retention": 0}, {"min_domain_gain": 2}])
def test_limits_out_of_range_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Limits(**kwargs)


def test_paired_items_see_a_drop_the_independent_interval_cannot():
    # The demo's chosen mix on MMLU: 0.363 -> 0.330 on 300 questions. Base and tuned answer the
    # same questions and mostly alike (15 right only for the base, 5 only for the tuned model).
    base = "1" * 94 + "1" * 15 + "0" * 5 + "0" * 186
    tuned = "1" * 94 + "0" * 15 + "1" * 5 + "0" * 186
    independent = results(mmlu=(109 / 300, 99 / 300))
    verdict(independent, Limits())
    assert independent["mmlu_0shot"]["status"] == NO_CHANGE and independent["mmlu_0shot"]["interval_method"] == "Newcombe (independent)"
    paired = results(mmlu=(109 / 300, 99 / 300))
    paired["mmlu_0shot"].update(base_items=base, tuned_items=tuned)
    gate = verdict(paired, Limits())
    assert paired["mmlu_0shot"]["interval_method"] == "paired bootstrap"
    assert paired["mmlu_0shot"]["change_interval"][1] < 0 and paired["mmlu_0shot"]["status"] == FORGOT and not gate["passed"]
    same = results(mmlu=(109 / 300, 109 / 300))
    same["mmlu_0shot"].update(base_items=base, tuned_items=base)
    verdict(same, Limits())
    assert same["mmlu_0shot"]["change_interval"] == [0.0, 0.0] and same["mmlu_0shot"]["status"] == NO_CHANGE


@pytest.mark.parametrize("change, message", [
    ({"base": float("nan")}, "mmlu_0shot: the base score must be a proportion in [0, 1], got nan"),
    ({"tuned": 1.5}, "mmlu_0shot: the tuned score must be a proportion in [0, 1], got 1.5"),
    ({"count": 0}, "mmlu_0shot: the base item count must be a whole number >= 1, got 0"),
    ({"base_items": "1" * 10, "tuned_items": "1" * 300}, "mmlu_0shot: the base model's per-item results are not 300 items of 0/1"),
    ({"base_items": "1" * 300, "tuned_items": "1" * 300}, "mmlu_0shot: the base model's per-item results give 1.0000, its score is 0.6000"),
])
def test_scores_the_gate_cannot_read_are_refused_by_benchmark_name(change, message):
    benchmarks = results()
    benchmarks["mmlu_0shot"].update(change)
    with pytest.raises(ValueError, match=re.escape(message)):
        verdict(benchmarks, Limits())


def test_base_and_tuned_on_different_item_counts_are_refused():
    from openforge_training.evaluation.gate import assess

    with pytest.raises(ValueError, match="base scored on 3000 items, tuned on 30"):
        assess("mmlu_0shot", 0.6, 0.5, 3000, tuned_count=30)
