"""Compiled configs: the same value as the YAML they came from, no pydantic at cold start, never stale."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import CONFIGS, sample_events
from wrapper.cli.check import describe_event, write_compiled
from wrapper.config.compiled import compiled_path, load_compiled, read_config
from wrapper.config.loader import load_config
from wrapper.config.values import Config

ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def copy_config(source: Path, tmp_path: Path) -> Path:
    for item in source.parent.iterdir():
        if item.is_file():
            shutil.copy2(item, tmp_path / item.name)
    return tmp_path / source.name


@pytest.mark.parametrize("source", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_compiled_config_reads_and_maps_exactly_like_its_yaml(source, tmp_path):
    path = copy_config(source, tmp_path)
    from_yaml = load_config(path)
    write_compiled(path)
    assert load_compiled(path, path.read_bytes()) is not None  # so read_config takes the compiled path
    compiled = read_config(path)
    assert type(compiled) is type(from_yaml) is Config  # one type, whatever the source
    assert compiled == from_yaml
    assert compiled.as_dict() == from_yaml.as_dict()
    for event in sample_events(source):
        body = json.dumps(event).encode()
        described = [describe_event(c, path, body, base_env=BASE_ENV) for c in (compiled, from_yaml)]
        for description in described:  # the one value that depends on the clock (hot mode: in the line)
            description.get("env", {}).pop("AWS_LAMBDA_DEADLINE_MS", None)
            if isinstance(description.get("line"), str):
                description["line"] = re.sub(r'"deadline":"\d+"', '"deadline":"?"', description["line"])
        assert described[0] == described[1]


def test_runtime_with_a_compiled_config_never_imports_pydantic_or_yaml(tmp_path):
    path = copy_config(ROOT / "configs" / "jq.yaml", tmp_path)
    write_compiled(path)
    script = f"""
import sys, time
from wrapper.runtime.function import FunctionHandler
from wrapper.types import Invocation
handler = FunctionHandler.load({str(path)!r}, base_env={BASE_ENV!r})
event = b'{{"filter": ".a", "document": {{"a": 7}}}}'
body, _ = handler.handle(Invocation("id", int(time.time() * 1000) + 10000, event))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("pydantic", "pydantic_core", "yaml", "requests"))
print(body.decode().strip(), heavy)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split() == ["7", "[]"]


def test_a_compiled_file_older_than_its_yaml_is_ignored(tmp_path):
    path = copy_config(ROOT / "configs" / "echo.yaml", tmp_path)
    write_compiled(path)
    path.write_text(path.read_text().replace("timeout_s: 10", "timeout_s: 7"))
    assert load_compiled(path, path.read_bytes()) is None
    assert read_config(path).timeout_s == 7  # validated from YAML again


@pytest.mark.parametrize("field, value", [("wrapper", "0.0.0-other"), ("format", 99), ("source_sha256", "0" * 64)])
def test_a_compiled_file_from_another_version_or_source_is_ignored(tmp_path, field, value):
    path = copy_config(ROOT / "configs" / "echo.yaml", tmp_path)
    document = json.loads(write_compiled(path).read_text())
    document[field] = value
    compiled_path(path).write_text(json.dumps(document))
    assert load_compiled(path, path.read_bytes()) is None


def test_a_broken_compiled_file_is_ignored(tmp_path):
    path = copy_config(ROOT / "configs" / "echo.yaml", tmp_path)
    compiled_path(path).write_text("{not json")
    assert load_compiled(path, path.read_bytes()) is None
    assert read_config(path) == load_config(path)


@pytest.mark.parametrize("change", ["kind", "field"])
def test_a_compiled_file_whose_classes_changed_is_ignored(tmp_path, change):
    path = copy_config(ROOT / "configs" / "echo.yaml", tmp_path)
    document = json.loads(write_compiled(path).read_text())
    if change == "kind":
        document["config"]["f"]["output"]["@"] = "NoSuchClass"
    else:
        document["config"]["f"]["output"]["f"]["no_such_field"] = 1
    compiled_path(path).write_text(json.dumps(document))
    assert load_compiled(path, path.read_bytes()) is None
    assert read_config(path) == load_config(path)


def test_config_dir_placeholder_expands_where_the_config_is_read_not_where_it_was_compiled(tmp_path):
    first, second = tmp_path / "built", tmp_path / "deployed"
    first.mkdir()
    (first / "wrapper.yaml").write_text("command: [cat, '{config_dir}/data.txt']\n")
    write_compiled(first / "wrapper.yaml")
    shutil.copytree(first, second)
    assert load_compiled(second / "wrapper.yaml", (second / "wrapper.yaml").read_bytes()) is not None
    config = read_config(second / "wrapper.yaml")
    assert config.command == ["cat", f"{second}/data.txt"]


def test_compiled_configs_are_read_only(tmp_path):
    path = copy_config(ROOT / "configs" / "echo.yaml", tmp_path)
    write_compiled(path)
    config = read_config(path)
    with pytest.raises(AttributeError):
        config.timeout_s = 1
