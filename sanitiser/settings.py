"""The sanitiser settings a user may set, published in one place with their types and ranges.

Every way settings come in from outside (the Sanitise state machine's ``settings``, the
shard and plan Lambdas' events, the local runner) goes through ``user_settings``: a name
not in ``USER_SETTINGS`` is refused by name, whether it is a typo or one of the internal
settings (``chunk_bytes``, ``fast_path``: tuning and the tests' reference path), because an
internal knob set wrong loses data silently (``chunk_bytes: 0`` read nothing and passed).
``check_sizes`` guards the sizes every caller, internal ones included, must get right.
"""
from __future__ import annotations

import math

from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers

from .formats import MAX_RECORD_BYTES


class SettingsError(ValueError):
    """A setting a user may not set, or set to a value outside its range."""


@dataclass(frozen=True)
class UserSetting:
    kind: type  # bool, int, float, str, or list (of strings)
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False  # the minimum itself is not allowed
    items: frozenset[str] = frozenset()  # for a list: the values an item may take (empty: any string)
    items_help: str = ""

    def describe(self) -> str:
        if self.choices:
            return " | ".join(self.choices)
        number = "{:,}" if self.kind is int else "{:g}"
        bounds = (f" ({'>' if self.above_minimum else '>='} {number.format(self.minimum)}, <= {number.format(self.maximum)})"
                  if self.minimum is not None else "")
        return ("list of strings" if self.kind is list else self.kind.__name__) + bounds

    def check(self, name: str, value):
        """The value as the sanitiser takes it, or SettingsError naming ``name``."""
        wrong = f"setting {name!r} must be {self.describe()}, got {value!r}"
        if self.kind is list:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
                raise SettingsError(wrong)
            unknown = [item for item in value if self.items and item not in self.items]
            if unknown:
                raise SettingsError(f"setting {name!r}: {', '.join(map(repr, unknown))} not {self.items_help}")
            return tuple(value)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not self.kind:
            raise SettingsError(wrong)
        if self.choices and value not in self.choices:
            raise SettingsError(wrong)
        if self.kind is float and not math.isfinite(value):  # NaN passes every comparison below
            raise SettingsError(wrong)
        if self.minimum is not None and (value < self.minimum or value == self.minimum and self.above_minimum or value > self.maximum):
            raise SettingsError(wrong)
        return value


USER_SETTINGS: dict[str, UserSetting] = {
    "marker_fix": UserSetting(str, "reserved chat markers: 'space' ('System:' -> 'System :', tags removed), 'strip', or 'quarantine' the line",
                              choices=("space", "strip", "quarantine")),
    "extra_markers": UserSetting(list, "more reserved strings, e.g. the base model's special tokens"),
    "scrub_pii": UserSetting(bool, "replace e-mails, phones, card numbers, SSNs and IP addresses with placeholders"),
    "phone_regions": UserSetting(list, "regions whose national phone formats are read, e.g. [\"US\", \"GB\", \"DE\"] (a number written "
                                 "with a + country code is read whatever this says)", items=frozenset(phonenumbers.SUPPORTED_REGIONS),
                                 items_help="a region libphonenumber knows (ISO 3166 codes such as US, GB, DE)"),
    "normalise": UserSetting(bool, "Unicode NFC, quotes, exotic spaces, CRLF and trailing spaces in the texts"),
    "exact_dedup": UserSetting(bool, "drop exact duplicates of the cleaned conversation"),
    "near_dedup": UserSetting(bool, "drop near duplicates (MinHash over word bigrams)"),
    "near_threshold": UserSetting(float, "estimated Jaccard similarity from which a record is a near duplicate", minimum=0.0, maximum=1.0, above_minimum=True),
    "max_line_bytes": UserSetting(int, "longer lines are quarantined (line_too_long); at most what the trainer reads", minimum=1, maximum=MAX_RECORD_BYTES),
    "comprehend_pii": UserSetting(bool, "also Amazon Comprehend's DetectPiiEntities on every text field"),
    "comprehend_language": UserSetting(str, "the language Comprehend reads the texts in", choices=("en", "es")),
}


def user_settings(values: Mapping | None) -> dict:
    """The keyword arguments for ``Settings`` from what a user sent, each one checked;
    SettingsError naming every name that is not a user setting, or the first bad value."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise SettingsError(f"settings must be an object of sanitiser settings, got {values!r}")
    unknown = sorted(set(values) - set(USER_SETTINGS))
    if unknown:
        raise SettingsError(f"unknown sanitiser setting(s): {', '.join(unknown)}: not among the settings a user may set "
                            f"({', '.join(USER_SETTINGS)}; see docs/sanitisation.md)")
    return {name: USER_SETTINGS[name].check(name, value) for name, value in values.items()}


def check_sizes(settings) -> None:
    """The sizes the streaming pass reads by, whoever set them: a chunk of 0 bytes read
    nothing and reported an empty, balanced dataset."""
    for name in ("chunk_bytes", "max_line_bytes"):
        value = getattr(settings, name)
        if type(value) is not int or value < 1:
            raise SettingsError(f"setting {name!r} must be a whole number of bytes >= 1, got {value!r}")
