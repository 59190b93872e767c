"""PII detection by Amazon Comprehend (behind a flag), reached through the VPC's
Comprehend interface endpoint. It finds what patterns cannot (names, addresses) at the
price of one API call per text field, so with it on every record takes the full path."""
from __future__ import annotations

from .rules import Findings

MAX_TEXT_BYTES = 100_000  # DetectPiiEntities' limit per call


class ComprehendScrubber:
    def __init__(self, client=None, *, language: str = "en", min_score: float = 0.5):
        if client is None:
            import boto3

            client = boto3.client("comprehend")
        self.client, self.language, self.min_score = client, language, min_score

    def __call__(self, text: str, findings: Findings) -> str:
        if not text.strip():
            return text
        pieces, start = [], 0
        while start < len(text):
            end = start + MAX_TEXT_BYTES // 4  # characters of at most 4 UTF-8 bytes each
            pieces.append(self._scrub(text[start:end], findings))
            start = end
        return "".join(pieces)

    def _scrub(self, text: str, findings: Findings) -> str:
        entities = self.client.detect_pii_entities(Text=text, LanguageCode=self.language)["Entities"]
        spans = sorted((e["BeginOffset"], e["EndOffset"], e["Type"]) for e in entities if e.get("Score", 1.0) >= self.min_score)
        pieces, done = [], 0
        for begin, end, kind in spans:
            begin, end = max(begin, done), min(end, len(text))
            if begin >= end:
                continue  # overlaps one already replaced, or lies past the text
            pieces += [text[done:begin], f"[{kind}]"]
            findings.pii[f"COMPREHEND_{kind}"] += 1
            done = end
        return "".join(pieces) + text[done:] if pieces else text
