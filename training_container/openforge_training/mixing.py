"""Exact per-batch data mixing: customer vs curated, then categories inside curated.

Level 1 — customer records in global batch *k*: ``floor((k+1)pB) - floor(kpB)``, so
every batch holds ``floor(pB)`` or ``ceil(pB)`` and the running total never drifts more
than one record from ``p * records_so_far``.
Level 2 — the ``m`` curated slots of a batch: each category first gets ``floor(w * m)``,
the few slots left go to the categories furthest behind their running target (largest
remainder with carried error, as in Megatron's blended dataset). Per batch a category
gets ``floor(w * m)`` or one more; its running total stays within one of target.
Arithmetic is in exact fractions, so there is no float drift over millions of batches.
Counts are a pure function of the batch index: resuming needs only how many batches ran.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .errors import InputError
from .sources import Pool, PoolStream, SourceRecord

CUSTOMER = "customer"


def _fraction(value, what: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
        raise InputError(f"{what} must be a number, got {value!r}")
    try:
        result = Fraction(str(value)) if not isinstance(value, Fraction) else value
    except (ValueError, ZeroDivisionError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    return result


def leaves_curated_share(customer: Fraction) -> bool:
    """Whether batches with this customer share hold curated data: the container's one check
    (the pipeline's is openforge_lambda.run.needs_curated_data, on customer_data_percent)."""
    return customer < 1


@dataclass(frozen=True)
class MixSpec:
    """Shares as exact fractions: ``customer`` of every batch; ``categories`` of the curated part."""

    customer: Fraction
    categories: Mapping[str, Fraction]

    @classmethod
    def from_percentages(cls, customer_data_percent, curated_weights: Mapping[str, object] | None, normalise: bool = False) -> MixSpec:
        customer = _fraction(customer_data_percent, "customer_data_percent")
        if not 0 <= customer <= 100:
            raise InputError(f"customer_data_percent must be between 0 and 100, got {customer_data_percent}")
        weights: dict[str, Fraction] = {}
        for name, value in (curated_weights or {}).items():
            weight = _fraction(value, f"curated_weights['{name}']")
            if weight < 0:
                raise InputError(f"curated_weights['{name}'] must not be negative, got {value}")
            if weight > 0:  # a zero weight means "not this category"
                weights[str(name)] = weight
        total = sum(weights.values(), Fraction(0))
        if leaves_curated_share(customer / 100):
            if curated_weights is not None and total == 0:
                raise InputError("curated_weights gives no category a positive weight, but customer_data_percent < 100 needs curated data")
            if weights and total != 100 and not normalise:
                raise InputError(
                    f"curated_weights must sum to 100, got {float(total):g} "
                    f"({', '.join(f'{k}={float(v):g}' for k, v in weights.items())}); fix them or set normalise_curated_weights=true"
                )
        # At 100 % no batch holds a curated record: the weights are checked but name nothing to load.
        shares = {name: weight / total for name, weight in weights.items()} if total and leaves_curated_share(customer / 100) else {}
        return cls(customer / 100, shares)

    def with_equal_categories(self, names: list[str]) -> MixSpec:
        """When no weights were given: every category found in the curated channel, equally."""
        return MixSpec(self.customer, {name: Fraction(1, len(names)) for name in names}) if names else self

    @property
    def needs_curated(self) -> bool:
        return leaves_curated_share(self.customer)

    def pool_shares(self) -> dict[str, Fraction]:
        """Each pool's share of every batch: the customer's, and each category's part of the curated share."""
        curated = 1 - self.customer
        return {CUSTOMER: self.customer, **{name: curated * share for name, share in self.categories.items()}}

    def as_percentages(self) -> dict[str, float]:
        curated = 1 - self.customer
        shares = {CUSTOMER: float(self.customer * 100)}
        shares.update({f"curated/{name}": float(curated * share * 100) for name, share in self.categories.items()})
        return shares


@dataclass(frozen=True)
class BatchCounts:
    customer: int
    categories: dict[str, int]

    @property
    def total(self) -> int:
        return self.customer + sum(self.categories.values())

    def by_source(self) -> dict[str, int]:
        return {CUSTOMER: self.customer, **self.categories}


class MixPlan:
    """How many records each source contributes to each global batch."""

    def __init__(self, spec: MixSpec, global_batch_size: int):
        if global_batch_size < 1:
            raise InputError(f"global_batch_size must be at least 1, got {global_batch_size}")
        if spec.needs_curated and not spec.categories:
            raise InputError("customer_data_percent < 100 but there are no curated categories to mix in")
        self.spec, self.batch_size = spec, global_batch_size
        self._names = list(spec.categories)

    def customer_in_batch(self, k: int) -> int:
        per_batch = self.spec.customer * self.batch_size
        return math.floor((k + 1) * per_batch) - math.floor(k * per_batch)

    def batches(self, start: int = 0) -> Iterator[tuple[int, BatchCounts]]:
        """(batch index, counts) for every batch from ``start`` on, forever."""
        names, weights = self._names, [self.spec.categories[n] for n in self._names]
        taken = [0] * len(names)
        curated_so_far = 0
        k = 0
        while True:
            customer = self.customer_in_batch(k)
            slots = self.batch_size - customer
            curated_so_far += slots
            base = [math.floor(w * slots) for w in weights]
            left = slots - sum(base)
            behind = [w * curated_so_far - (t + b) for w, t, b in zip(weights, taken, base)]
            # Only categories whose exact share of this batch is fractional may round up, so
            # every per-batch count stays floor or ceil of its target.
            candidates = [i for i, w in enumerate(weights) if w * slots != base[i]]
            for index in sorted(candidates, key=lambda i: (-behind[i], i))[:left]:
                base[index] += 1
            taken = [t + b for t, b in zip(taken, base)]
            if k >= start:
                yield k, BatchCounts(customer, dict(zip(names, base)))
            k += 1

    def consumed(self, batches: int) -> dict[str, int]:
        """Records each source has given after ``batches`` global batches."""
        totals = {CUSTOMER: 0, **{n: 0 for n in self._names}}
        if batches <= 0:
            return totals
        for k, counts in self.batches():
            for name, count in counts.by_source().items():
                totals[name] += count
            if k + 1 == batches:
                return totals
        raise AssertionError("unreachable")

    def most_per_batch(self) -> dict[str, int]:
        """The most records each source gives one batch: the ceiling of its share of it."""
        slots = self.batch_size - math.floor(self.spec.customer * self.batch_size)  # the most curated slots
        return {CUSTOMER: math.ceil(self.spec.customer * self.batch_size), **{n: math.ceil(w * slots) for n, w in self.spec.categories.items()}}

    def batches_per_epoch(self, customer_records: int) -> int:
        """Global batches until every customer record has been seen once."""
        per_batch = self.spec.customer * self.batch_size
        if per_batch == 0:
            raise InputError("customer_data_percent is 0, so epochs are undefined: set max_steps")
        return math.ceil(customer_records / per_batch)


class MixedRecordStream:
    """Global batches of records drawn from the pools by the plan, in a seeded order."""

    def __init__(self, plan: MixPlan, pools: Mapping[str, Pool], seed: int, shuffle_block: int):
        for name, share in [(CUSTOMER, plan.spec.customer), *plan.spec.categories.items()]:
            if share > 0 and name not in pools:
                raise InputError(f"the mix needs records from '{name}' but no such pool was loaded")
        self.plan, self.pools, self.seed, self.shuffle_block = plan, pools, seed, shuffle_block

    def small_pools(self) -> list[str]:
        """A warning for each pool smaller than its share of one batch: its records repeat inside a batch."""
        return [
            f"pool '{name}' has {self.pools[name].records} records but its share of one global batch of {self.plan.batch_size} is up to {most}: "
            "its records repeat inside a batch; add data, lower its share or the batch size"
            for name, most in self.plan.most_per_batch().items()
            if name in self.pools and self.pools[name].records < most
        ]

    def batches(self, start: int = 0) -> Iterator[list[SourceRecord]]:
        consumed = self.plan.consumed(start)
        streams = {name: PoolStream(pool, self.seed, self.shuffle_block).read(consumed.get(name, 0)) for name, pool in self.pools.items()}
        for k, counts in self.plan.batches(start):
            records = [next(streams[name]) for name, count in counts.by_source().items() for _ in range(count)]
            # Spread sources across the batch so each micro-batch of an accumulated step is mixed too.
            order = np.random.default_rng([self.seed, k]).permutation(len(records))
            yield [records[i] for i in order]
