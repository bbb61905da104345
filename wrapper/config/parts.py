"""The config schema's parts that say how event values become argv, stdin, env and files (see wrapper.config.schema).

Single-field checks (regex and JMESPath compile) run inside pydantic, so they are reported together with every
other schema problem. The field types they share with wrapper.config.schema live in wrapper.config.fields.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import jmespath
import jmespath.exceptions
from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from wrapper.config.fields import TAG_PREFIX, BaseConfig, Name, TemplateText, Word, shape
from wrapper.config.network import DestinationConfig

InputType = Literal["string", "integer", "number", "boolean", "list", "object"]
ItemType = Literal["string", "integer", "number", "boolean"]


class InputConfig(BaseConfig):
    """How one named value is taken from the event and checked."""

    from_: str | None = Field(
        None, alias="from",
        description="JMESPath expression over the event (or, for HTTP events, the request view); default: the input's "
        "own name. `@` is the whole document.",
    )
    type: InputType = Field(
        "string",
        description="The value's type. integer/number/boolean also accept their canonical text forms (`42`, `1.5`, "
        "`true`), as HTTP query strings give.",
    )
    required: bool | None = Field(
        None,
        description="A missing (null) value is an error. Default: true when no `default` is given, else false.",
    )
    default: Any = Field(None, description="The value used when the expression yields null.")
    enum: list[Any] | None = Field(None, description="The allowed values (for lists: of each item).")
    pattern: str | None = Field(
        None,
        description="Regular expression a string (for lists: each item) must match in full.",
    )
    min: float | None = Field(None, description="Numbers: inclusive lower bound.")
    max: float | None = Field(None, description="Numbers: inclusive upper bound.")
    min_length: int | None = Field(None, ge=0, description="Strings: minimum length in characters.")
    max_length: int = Field(
        4096, ge=0,
        description="Strings: maximum length in characters (argv words must stay far below 128 KiB).",
    )
    max_items: int | None = Field(None, ge=0, description="Lists: maximum number of items.")
    items: ItemType = Field("string", description="Lists: the type of each item.")
    allow_dash: bool = Field(False, description="The value may start with `-` (a program could read it as an option).")
    destination: DestinationConfig | None = Field(
        None,
        description="Treat the value as a network destination and deny internal addresses.",
    )

    @field_validator("from_")
    @classmethod
    def _jmespath(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                jmespath.compile(value)
            except jmespath.exceptions.JMESPathError as error:
                reason = str(error).splitlines()[0].removesuffix(", for expression:")
                raise ValueError(f"invalid JMESPath expression: {reason}") from None
        return value

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"invalid regular expression: {error}") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _required_unless_defaulted(cls, data: Any) -> Any:
        # resolved here, once, so every reader and the compiled form see a plain boolean
        if isinstance(data, dict) and data.get("required") is None:
            return {**data, "required": "default" not in data}
        return data


class _ArgBase(BaseConfig):
    when: Name | None = Field(None, description="Include this item only when this input is present and truthy.")


class ValueArgConfig(_ArgBase):
    """`{value: NAME}`: the input's value as its own word; a list gives one word per item."""

    value: Name = Field(description="The input whose value becomes the word(s).")


class FlagArgConfig(_ArgBase):
    """`{flag: --x, value: NAME}` or `{flag: --x, file: NAME}`: an option followed by its value."""

    flag: Word = Field(description="The option word, e.g. `--target`.")
    value: Name | None = Field(
        None,
        description="The input giving the option's value; a list repeats the flag per item.",
    )
    file: Name | None = Field(None, description="The file (from `files:`) whose path is the option's value.")
    style: Literal["separate", "equals"] = Field(
        "separate",
        description="`separate`: two words (`--x` `v`); `equals`: one word (`--x=v`).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> FlagArgConfig:
        if (self.value is None) == (self.file is None):
            raise ValueError("give exactly one of 'value' or 'file'")
        return self


class SwitchArgConfig(_ArgBase):
    """`{switch: --verbose, value: NAME}`: the word only when the boolean input is true."""

    switch: Word = Field(description="The word to add when the input is true.")
    value: Name = Field(description="A boolean input.")


class TemplateArgConfig(_ArgBase):
    """`{template: "--x={name}"}`: one word mixing literal text, values and file paths."""

    template: TemplateText = Field(
        description="Text with `{name}` (input), `{file:NAME}` (file path); `{{`/`}}` escape braces.",
    )


class FileArgConfig(_ArgBase):
    """`{file: NAME}`: the path of a file from `files:` as its own word."""

    file: Name = Field(description="The file (from `files:`) whose path becomes the word.")


_ARG_TAGS = {
    "FlagArgConfig": "flag", "SwitchArgConfig": "switch", "TemplateArgConfig": "template",
    "ValueArgConfig": "value", "FileArgConfig": "file",
}


def _arg_kind(value: Any) -> str | None:
    if shape(value) == f"{TAG_PREFIX}word":
        return f"{TAG_PREFIX}word"
    if type(value).__name__ in _ARG_TAGS:  # serializing: pydantic hands over the model itself
        return f"{TAG_PREFIX}{_ARG_TAGS[type(value).__name__]}"
    if isinstance(value, dict):
        for key in ("flag", "switch", "template", "value", "file"):
            if key in value:
                return f"{TAG_PREFIX}{key}"
    return None


ArgConfig = Annotated[
    Annotated[Word, Tag(f"{TAG_PREFIX}word")]
    | Annotated[FlagArgConfig, Tag(f"{TAG_PREFIX}flag")]
    | Annotated[SwitchArgConfig, Tag(f"{TAG_PREFIX}switch")]
    | Annotated[TemplateArgConfig, Tag(f"{TAG_PREFIX}template")]
    | Annotated[ValueArgConfig, Tag(f"{TAG_PREFIX}value")]
    | Annotated[FileArgConfig, Tag(f"{TAG_PREFIX}file")],
    Discriminator(
        _arg_kind,
        custom_error_type="arg_kind",
        custom_error_message="an args item is a word or a mapping with one of: value, flag, switch, template, file",
    ),
]


class StdinConfig(BaseConfig):
    """Bytes built from one input (`{value: NAME, as: ...}`) or a template (`{template: ...}`)."""

    value: Name | None = Field(None, description="The input to send.")
    as_: Literal["text", "json", "base64"] = Field(
        "text", alias="as",
        description="`text`: the string as UTF-8 (non-strings JSON-encoded); `json`: the value JSON-encoded; `base64`: "
        "the string base64-decoded.",
    )
    template: TemplateText | None = Field(None, description="Text with `{name}` placeholders, sent as UTF-8.")

    @model_validator(mode="after")
    def _one_source(self) -> StdinConfig:
        if (self.value is None) == (self.template is None):
            raise ValueError("give exactly one of 'value' or 'template'")
        return self


def _payload_kind(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return f"{TAG_PREFIX}word"
    return f"{TAG_PREFIX}mapping" if isinstance(value, (dict, BaseModel)) else None


PayloadConfig = Annotated[
    Annotated[Literal["none", "event"], BeforeValidator(lambda v: "none" if v is None else v), Tag(f"{TAG_PREFIX}word")]
    | Annotated[StdinConfig, Tag(f"{TAG_PREFIX}mapping")],
    Discriminator(
        _payload_kind,
        custom_error_type="payload_kind",
        custom_error_message="expected none, event, {value: NAME, as: ...} or {template: ...}",
    ),
]


class EnvValueConfig(BaseConfig):
    """An environment value from an input (`{value: NAME}`) or a template (`{template: ...}`)."""

    value: Name | None = Field(None, description="The input whose value is used (non-strings JSON-encoded).")
    template: TemplateText | None = Field(None, description="Text with `{name}` placeholders.")

    @model_validator(mode="after")
    def _one_source(self) -> EnvValueConfig:
        if (self.value is None) == (self.template is None):
            raise ValueError("give exactly one of 'value' or 'template'")
        return self


EnvConfig = Annotated[
    Annotated[Word, Tag(f"{TAG_PREFIX}word")] | Annotated[EnvValueConfig, Tag(f"{TAG_PREFIX}mapping")],
    Discriminator(
        shape, custom_error_type="env_kind", custom_error_message="expected a string, {value: NAME} or {template: ...}"
    ),
]


class FileConfig(BaseConfig):
    """A file written into the invocation's scratch dir before the program starts."""

    value: Name = Field(description="The input whose value is the file's content.")
    as_: Literal["text", "base64"] = Field(
        "text", alias="as",
        description="`text`: UTF-8 (non-strings JSON-encoded); `base64`: the string base64-decoded.",
    )
    filename: str | None = Field(None, description="The file's name inside the scratch dir; default: the file's key.")

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and (value in ("", ".", "..") or "/" in value or "\x00" in value):
            raise ValueError(f"{value!r} must be a plain file name (no '/')")
        return value
