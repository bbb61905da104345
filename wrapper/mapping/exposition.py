"""Prometheus text exposition (format 0.0.4) to a JSON-friendly dict. Pure: no I/O.

    {"metrics": {"<family>": {"type": "gauge", "help": "...", "samples": [
        {"name": "<sample>", "labels": {"<label>": "<value>"}, "value": 1.0, "timestamp": 1700000000000}]}},
     "values": {"<sample>": 1.0}}

`metrics` holds every family in the order it first appears; histogram and summary samples (`_bucket`, `_sum`,
`_count`) sit under their family, each keeping its own `name`. `timestamp` (ms) is present only when the line has
one. `values` is a shortcut for unlabelled samples (`values.probe_success`). NaN, +Inf and -Inf become the strings
"NaN", "+Inf" and "-Inf", since JSON has no such numbers. A malformed line raises ValueError("line N: ...").
Format: https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import math
import re
from typing import Any

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TIMESTAMP = re.compile(r"[+-]?[0-9]+")
DIRECTIVE = re.compile(r"#[ \t]+(HELP|TYPE)(?:[ \t]+(.*))?", re.DOTALL)
FIRST_BLANKS = re.compile(r"[ \t]+")
HELP_ESCAPE = re.compile(r"\\([\\n])")
QUOTED_RUN = re.compile(r'[^"\\]*')  # a label value's characters up to its closing quote or an escape
BLANKS = " \t"
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
FAMILY_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
LABEL_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class _Families:
    """The families read so far, and which of them already had HELP or TYPE."""

    def __init__(self) -> None:
        self.metrics: dict[str, dict[str, Any]] = {}
        self.values: dict[str, float | str] = {}
        self.helped: set[str] = set()
        self.typed: set[str] = set()

    def family(self, name: str) -> dict[str, Any]:
        """The family called `name`, created untyped when new."""
        return self.metrics.setdefault(name, {"type": "untyped", "help": "", "samples": []})

    def family_of(self, sample_name: str) -> dict[str, Any]:
        """The family a sample belongs to: its own name, or a histogram/summary it is a _bucket/_sum/_count of."""
        if sample_name not in self.metrics:
            for suffix in ("_bucket", "_sum", "_count"):
                base = sample_name.removesuffix(suffix)
                kind = self.metrics.get(base, {}).get("type", "")
                if base != sample_name and suffix in FAMILY_SUFFIXES.get(kind, ()):
                    return self.metrics[base]
        return self.family(sample_name)


def parse_exposition(text: str) -> dict[str, Any]:
    """Parse Prometheus text exposition into {"metrics": {...}, "values": {...}}; ValueError names the bad line."""
    families = _Families()
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.rstrip("\r").strip(BLANKS)  # tolerate CRLF from hand-made or Windows-built output
        if not line:
            continue
        try:
            if line.startswith("#"):
                _read_directive(line, families)
            else:
                _read_sample(line, families)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}: {_clip(line, 120)!r}") from None
    return {"metrics": families.metrics, "values": families.values}


def _read_directive(line: str, families: _Families) -> None:
    """Apply a '# HELP' or '# TYPE' line; any other comment is ignored."""
    match = DIRECTIVE.fullmatch(line)
    if match is None:
        return
    keyword, rest = match.group(1), match.group(2) or ""
    name, _, tail = FIRST_BLANKS.sub(" ", rest, count=1).partition(" ")
    if not METRIC_NAME.fullmatch(name):
        raise ValueError(f"{keyword} needs a valid metric name")
    if keyword == "HELP":
        if name in families.helped:
            raise ValueError(f"second HELP line for {name}")
        families.helped.add(name)
        families.family(name)["help"] = _unescape_help(tail)
        return
    kind = tail.strip(BLANKS)
    if kind not in TYPES:
        raise ValueError(f"unknown metric type {_clip(kind)!r} (expected one of {', '.join(TYPES)})")
    if name in families.typed:
        raise ValueError(f"second TYPE line for {name}")
    family = families.family(name)
    if family["samples"]:
        raise ValueError(f"TYPE line for {name} after its samples")
    families.typed.add(name)
    family["type"] = kind


def _unescape_help(text: str) -> str:
    r"""Undo HELP escaping: '\\' and '\n'; any other backslash stays as written."""
    if "\\" not in text:
        return text
    return HELP_ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else "\\", text)


def _read_sample(line: str, families: _Families) -> None:
    """Add one 'name{labels} value [timestamp]' line to its family."""
    match = METRIC_NAME.match(line)
    if match is None:
        raise ValueError("expected a metric name")
    name, pos = match.group(), match.end()
    if pos < len(line) and line[pos] not in BLANKS + "{":
        raise ValueError(f"unexpected {line[pos]!r} after metric name")
    pos = _skip_blanks(line, pos)
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _read_labels(line, pos + 1)
    fields = line[pos:].split()
    if not fields:
        raise ValueError("missing value")
    if len(fields) > 2:
        raise ValueError("unexpected text after the timestamp")
    sample: dict[str, Any] = {"name": name, "labels": labels, "value": _read_value(fields[0])}
    if len(fields) == 2:
        if not TIMESTAMP.fullmatch(fields[1]):
            raise ValueError(f"invalid timestamp {_clip(fields[1])!r} (expected integer milliseconds)")
        sample["timestamp"] = int(fields[1])
    families.family_of(name)["samples"].append(sample)
    if not labels:
        families.values[name] = sample["value"]


def _read_labels(line: str, pos: int) -> tuple[dict[str, str], int]:
    """Read 'a="x",b="y"}' from just after the '{'; return the labels and the position after '}'."""
    labels: dict[str, str] = {}
    while True:
        pos = _skip_blanks(line, pos)
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1  # also the end after a trailing comma, which the format allows
        match = LABEL_NAME.match(line, pos)
        if match is None:
            raise ValueError("expected a label name or '}'")
        label = match.group()
        pos = _expect(line, _skip_blanks(line, match.end()), "=")
        pos = _expect(line, _skip_blanks(line, pos), '"')
        value, pos = _read_quoted(line, pos)
        if label in labels:
            raise ValueError(f"label {label} given twice")
        labels[label] = value
        pos = _skip_blanks(line, pos)
        if pos < len(line) and line[pos] == ",":
            pos += 1
        elif pos >= len(line) or line[pos] != "}":
            raise ValueError("expected ',' or '}' after a label value")


def _read_quoted(line: str, pos: int) -> tuple[str, int]:
    r"""Read a label value from just after its opening quote, undoing \\, \" and \n."""
    chars: list[str] = []
    while True:
        run = QUOTED_RUN.match(line, pos)
        assert run is not None  # the pattern matches the empty string
        chars.append(run.group())
        pos = run.end()
        if pos >= len(line):
            raise ValueError("unterminated label value")
        if line[pos] == '"':
            return "".join(chars), pos + 1
        escaped = line[pos + 1 : pos + 2]  # line[pos] is a backslash
        if escaped not in LABEL_ESCAPES:
            raise ValueError(f"invalid escape '\\{escaped}' in a label value")
        chars.append(LABEL_ESCAPES[escaped])
        pos += 2


def _read_value(text: str) -> float | str:
    """A sample value as a float, or "NaN"/"+Inf"/"-Inf" so the result stays valid JSON."""
    try:
        if "_" in text:  # Python's float() takes "1_000"; Prometheus does not
            raise ValueError
        number = float(text)
    except ValueError:
        raise ValueError(f"invalid value {_clip(text)!r}") from None
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return number


def _skip_blanks(line: str, pos: int) -> int:
    """The first position at or after `pos` that is not a space or tab."""
    while pos < len(line) and line[pos] in BLANKS:
        pos += 1
    return pos


def _expect(line: str, pos: int, char: str) -> int:
    """The position after `char`, which must be at `pos`."""
    if pos >= len(line) or line[pos] != char:
        raise ValueError(f"expected {char!r}")
    return pos + 1


def _clip(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters, so an error message stays readable."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
