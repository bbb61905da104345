"""Checks an EMF record against the specification: its published JSON schema, then the rules the schema leaves out.

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html (the schema is in emf_schema.json beside this file).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA = json.loads((Path(__file__).with_name("emf_schema.json")).read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def emf_problems(record: Any) -> list[str]:
    """Every way `record` breaks the EMF specification; empty when it is valid."""
    problems = [f"schema: {error.json_path}: {error.message}" for error in VALIDATOR.iter_errors(record)]
    if problems:
        return problems
    for index, directive in enumerate(record["_aws"]["CloudWatchMetrics"]):
        if len(directive["Metrics"]) > 100:
            problems.append(f"directive {index}: more than 100 metrics")
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                value = record.get(name)
                if not isinstance(value, str):
                    problems.append(f"dimension {name!r}: the root member is {value!r}, not a string")
                elif not value.strip() or len(value) > 1024 or not value.isascii() or not value.isprintable():
                    problems.append(f"dimension {name!r}: {value!r} is not 1-1024 printable ASCII characters")
        for definition in directive["Metrics"]:
            value = record.get(definition["Name"])
            values = value if isinstance(value, list) else [value]
            if isinstance(value, list) and len(value) > 100:
                problems.append(f"metric {definition['Name']!r}: more than 100 values")
            for item in values:
                if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
                    problems.append(f"metric {definition['Name']!r}: {item!r} is not a finite number")
    return problems


def assert_valid_emf(record: Any) -> None:
    """Fail the test, listing every problem, unless `record` is a valid EMF document."""
    problems = emf_problems(record)
    assert not problems, "\n".join(problems) + "\n" + json.dumps(record, indent=1)


def emf_lines(text: str) -> list[dict[str, Any]]:
    """Every line of a log that is an EMF record: a whole line holding one JSON object with `_aws`."""
    found = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            found.append(document)
    return found
