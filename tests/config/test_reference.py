"""The generated config reference matches the schema, and documents every key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from wrapper.config.reference import _models, render_reference
from wrapper.config.schema import WrapperConfig

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "config-reference.md"


def test_reference_file_is_up_to_date():
    assert REFERENCE.read_text() == render_reference(), (
        "docs/config-reference.md is stale: python3 -m wrapper.config.reference > docs/config-reference.md"
    )


def test_every_field_has_a_description():
    missing = [
        f"{model.__name__}.{name}"
        for model in _models(WrapperConfig)
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert missing == []


def test_every_config_class_is_documented():
    text = render_reference()
    for model in _models(WrapperConfig):
        assert issubclass(model, BaseModel) and model.__name__.endswith("Config")
        assert f"## `{model.__name__}`" in text


def test_aliases_are_shown_as_yaml_keys():
    text = render_reference()
    assert "| `from` |" in text and "| `as` |" in text
    assert "from_" not in text and "as_" not in text
