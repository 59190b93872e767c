"""OpenForge's data sanitiser: one streaming pass that validates, neutralises reserved
markers, normalises text, scrubs PII and removes duplicates, losing nothing: every input
line ends up clean, quarantined with a reason, or recorded as a duplicate of another.

Shared by the sanitisation Lambda, the local command (``python -m sanitiser``) and the
training container (whose pre-flight check uses ``sanitiser.formats``).
"""
