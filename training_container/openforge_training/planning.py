"""The run's capacity plan inside the container, and what the run really used.

``prepare`` counts the tokens every record trains (``TokenCounts``, fed by the check pass
that already tokenises each record), plans the run on the instance type it runs on
(openforge_contract.capacity_plan), resolves ``sharding=auto`` from that plan and refuses a
plan with problems before a model loads (a run started without ValidateInput). After
training, ``actual_figures`` says what the run used; the run record keeps both under
``capacity`` and the model card shows them side by side.
"""
from __future__ import annotations

import logging
import resource
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction

from openforge_contract.capacity import InvalidModelConfig, UnknownLoraTargets
from openforge_contract.capacity_plan import GIB, TrainingPlan, plan_for_hyperparameters

from .chat import Tokenised
from .config import RunConfig
from .errors import InputError
from .packing import clip

log = logging.getLogger("openforge.planning")

# What ``actual_figures`` measured as peak memory, by device kind.
DEVICE_MEMORY, HOST_RSS, NOT_MEASURED = "device", "host RSS", "not measured"


@dataclass
class PoolTokens:
    records: int = 0
    tokens: int = 0  # trained tokens after the cut at max_length


class TokenCounts:
    """Per pool, the records checked and the tokens they train: each record cut at
    ``max_length`` as packing cuts it, and none for a record the cut leaves without a trained
    token (packing skips it). Counts only: no record is kept."""

    def __init__(self, max_length: int):
        self.max_length = max_length
        self.pools: dict[str, PoolTokens] = {}

    def counting(self, pool: str, tokenise: Callable[[str], Tokenised]) -> Callable[[str], Tokenised]:
        """``tokenise``, counting what each record of ``pool`` trains."""
        counts = self.pools.setdefault(pool, PoolTokens())

        def check(line: str) -> Tokenised:
            record = tokenise(line)
            kept = clip(record, self.max_length)
            counts.records += 1
            counts.tokens += len(kept) if kept is not None else 0
            return record

        return check

    def planned_tokens(self, shares: Mapping[str, Fraction], records: int) -> int:
        """The tokens ``records`` records drawn by the mix train: each pool's share of them at
        that pool's mean tokens per record."""
        per_record = sum((share * Fraction(self.pools[name].tokens, self.pools[name].records) for name, share in shares.items() if share),
                         Fraction(0))
        return round(per_record * records)


def replica_fits(plan: TrainingPlan | None) -> bool:
    """For ``sharding=auto``: whether a whole replica fits one device, as the plan resolved it;
    without a plan, assumed (a replica per device, the data-parallel default)."""
    return plan is None or plan.settings["sharding"] == "none"


def plan_run(config: RunConfig, model_config: dict, instance_type: str | None, instance_count: int, tokens: int | None = None) -> tuple[TrainingPlan | None, str | None]:
    """The plan of this run on ``instance_count`` x ``instance_type``, or None and why not."""
    if instance_type is None:
        return None, "the instance type is not known here (neither a SageMaker training job nor a HyperPod job)"
    hyperparameters = {**asdict(config.tuning), "max_length": config.mix.max_length}
    try:
        plan = plan_for_hyperparameters(model_config, hyperparameters, method=config.tuning.method, instance_type=instance_type,
                                        instance_count=instance_count, tokens=tokens)
    except InvalidModelConfig as error:  # the model would not load either
        raise InputError(f"channel 'model': config.json: {error}") from None
    except UnknownLoraTargets as error:  # peft would adapt nothing, or not what was asked
        raise InputError(f"lora_target_modules: {error}") from None
    except ValueError as error:  # UnsupportedModel, an instance type the catalogue lacks or one without an accelerator
        return None, str(error)
    return plan, None


def actual_figures(device_kind: str, runtime_seconds: float, tokens: int, largest: Callable[[int], int]) -> dict:
    """What the run used. Peak memory: on CUDA the most any process's device held
    (torch.cuda.max_memory_allocated); on CPU the largest training process's peak resident
    memory, host memory rather than a device's; on Neuron not measured. ``largest`` takes
    this process's figure to the largest over all processes (every process calls it)."""
    if device_kind == "cuda":
        import torch

        peak, kind = largest(torch.cuda.max_memory_allocated()), DEVICE_MEMORY
    elif device_kind == "cpu":
        peak, kind = largest(peak_rss_bytes()), HOST_RSS
    else:
        peak, kind = None, NOT_MEASURED
    return {"peak_memory_bytes": peak, "memory": kind, "hours": runtime_seconds / 3600, "tokens": tokens}


def peak_rss_bytes() -> int:
    """This process's peak resident memory (getrusage's ru_maxrss: kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def capacity_card(capacity: Mapping) -> list[str]:
    """The model card's section: the plan's own lines, then planned against actual."""
    planned, actual = capacity.get("planned"), capacity["actual"]
    lines = ["## Capacity (planned against actual)"]
    if planned:
        lines += [f"- plan: {line}" for line in TrainingPlan(**planned).lines()]
    else:
        lines.append(f"- no plan: {capacity.get('not_planned') or 'no reason recorded'}")
    peak = actual["peak_memory_bytes"]
    rows = [("peak memory", f"{planned['memory']['total'] / GIB:.2f} GiB per device" if planned else "-",
             f"{peak / GIB:.2f} GiB ({actual['memory']})" if peak is not None else actual["memory"]),
            ("hours", f"{planned['hours']:.4f}" if planned and planned["hours"] is not None else "-", f"{actual['hours']:.4f}"),
            ("tokens trained", f"{planned['tokens']:,}" if planned and planned["tokens"] is not None else "-", f"{actual['tokens']:,}")]
    return [*lines, "", "| | planned | actual |", "|---|---|---|", *[f"| {name} | {plan} | {real} |" for name, plan, real in rows], ""]
