"""The run: the pipeline input once ``pipeline_input.normalise`` has filled its defaults and
checked it, as typed objects. ValidateInput makes it once; every later step reads it back from
the state with ``Run.from_dict`` at its entry and passes the object inward, so no step checks
the run's fields again.

``to_dict`` gives the JSON the state machine carries (the schema's fields, in its order);
``from_dict`` reads it back, refusing a missing or mistyped field by its path (``run.compute.
instance_count: ...``). Names are the schema's (schemas/pipeline-input.schema.json).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from openforge_lambda.json_fields import Fields

# Every batch is customer_data_percent customer data; below 100 the rest is curated data.
CUSTOMER_ONLY_PERCENT = 100


def needs_curated_data(customer_data_percent: float) -> bool:
    """Whether a mix leaves a curated share (reads the curated data): the one place this is decided."""
    return customer_data_percent < CUSTOMER_ONLY_PERCENT


def mix_percents(customer_data_percent: float, grid: list[float] | tuple[float, ...] | None) -> tuple[float, ...]:
    """One customer_data_percent per mix the run trains: the grid's, or the single mixing one."""
    return tuple(grid) if grid is not None else (customer_data_percent,)


@dataclass(frozen=True)
class Mixing:
    customer_data_percent: float
    curated_weights: dict[str, float] | None

    @classmethod
    def from_fields(cls, fields: Fields) -> Mixing:
        return cls(fields.number("customer_data_percent"), fields.number_map("curated_weights", optional=True))

    def to_dict(self) -> dict:
        return {"customer_data_percent": self.customer_data_percent,
                "curated_weights": dict(self.curated_weights) if self.curated_weights is not None else None}


@dataclass(frozen=True)
class Compute:
    target: str  # training-job or hyperpod
    instance_type: str
    instance_count: int

    @classmethod
    def from_fields(cls, fields: Fields) -> Compute:
        return cls(fields.text("target"), fields.text("instance_type"), fields.whole_number("instance_count", minimum=1))

    def to_dict(self) -> dict:
        return {"target": self.target, "instance_type": self.instance_type, "instance_count": self.instance_count}


@dataclass(frozen=True)
class EvaluationLimits:
    min_general_retention: float
    min_domain_gain: float
    waive_general_check: bool

    @classmethod
    def from_fields(cls, fields: Fields) -> EvaluationLimits:
        return cls(fields.number("min_general_retention"), fields.number("min_domain_gain"), fields.boolean("waive_general_check"))

    def to_dict(self) -> dict:
        return {"min_general_retention": self.min_general_retention, "min_domain_gain": self.min_domain_gain,
                "waive_general_check": self.waive_general_check}


@dataclass(frozen=True)
class Evaluation:
    benchmarks: tuple[str, ...]
    limits: EvaluationLimits
    data_s3_uri: str

    @classmethod
    def from_fields(cls, fields: Fields) -> Evaluation:
        return cls(fields.texts("benchmarks"), EvaluationLimits.from_fields(fields.block("limits")), fields.text("data_s3_uri"))

    def to_dict(self) -> dict:
        return {"benchmarks": list(self.benchmarks), "limits": self.limits.to_dict(), "data_s3_uri": self.data_s3_uri}


@dataclass(frozen=True)
class Deploy:
    enabled: bool
    instance_type: str

    @classmethod
    def from_fields(cls, fields: Fields) -> Deploy:
        return cls(fields.boolean("enabled"), fields.text("instance_type"))

    def to_dict(self) -> dict:
        return {"enabled": self.enabled, "instance_type": self.instance_type}


@dataclass(frozen=True)
class Run:
    """A normalised pipeline input; ``grid`` is the grid's customer_data_percent list, or None
    for a single run."""

    job_name: str
    base_model_s3_uri: str
    customer_data_s3_uri: str
    curated_data_s3_uri: str | None  # None only where no mix leaves a curated share
    mixing: Mixing
    method: str  # lora or full
    hyperparameters: dict  # the training container's names and values, as the schema gives them
    compute: Compute
    evaluation: Evaluation
    deploy: Deploy
    grid: tuple[float, ...] | None

    @classmethod
    def from_dict(cls, data: Mapping, path: str = "run") -> Run:
        fields = Fields(data, path)
        grid = fields.block("grid", optional=True)
        return cls(
            job_name=fields.text("job_name"),
            base_model_s3_uri=fields.text("base_model_s3_uri"),
            customer_data_s3_uri=fields.text("customer_data_s3_uri"),
            curated_data_s3_uri=fields.text("curated_data_s3_uri", optional=True),
            mixing=Mixing.from_fields(fields.block("mixing")),
            method=fields.text("method"),
            hyperparameters=fields.mapping("hyperparameters"),
            compute=Compute.from_fields(fields.block("compute")),
            evaluation=Evaluation.from_fields(fields.block("evaluation")),
            deploy=Deploy.from_fields(fields.block("deploy")),
            grid=grid.numbers("customer_data_percent") if grid is not None else None,
        )

    def to_dict(self) -> dict:
        return {
            "job_name": self.job_name,
            "base_model_s3_uri": self.base_model_s3_uri,
            "customer_data_s3_uri": self.customer_data_s3_uri,
            "curated_data_s3_uri": self.curated_data_s3_uri,
            "mixing": self.mixing.to_dict(),
            "method": self.method,
            "hyperparameters": dict(self.hyperparameters),
            "compute": self.compute.to_dict(),
            "evaluation": self.evaluation.to_dict(),
            "deploy": self.deploy.to_dict(),
            "grid": {"customer_data_percent": list(self.grid)} if self.grid is not None else None,
        }

    @property
    def customer_data_percents(self) -> tuple[float, ...]:
        return mix_percents(self.mixing.customer_data_percent, self.grid)
