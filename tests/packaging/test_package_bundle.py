"""`wrapper package --bundle`: the program and the libraries Lambda lacks ride in the zip; what would not load on
Amazon Linux 2023 is refused before anything is written. Real Debian programs (qrencode, jq), real zips, run
under the emulator with nothing but a bare interpreter on PATH."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from package_helpers import ARCH, OTHER_ARCH, PYTHON, ROOT, invoke_zip, make_bare_python, unpack
from wrapper.cli.main import main
from wrapper.emulator.runtimes import runtime_env
from wrapper.packaging import PackageError
from wrapper.packaging.al2023 import too_new
from wrapper.packaging.build import BOOTSTRAP, package
from wrapper.packaging.elf import VersionNeed, read_elf

QRENCODE = ROOT / "configs" / "qrencode.yaml"
JQ = ROOT / "configs" / "jq.yaml"
PATH = os.environ.get("PATH", os.defpath)


@pytest.fixture(scope="module")
def qrencode_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qrencode")
    package(QRENCODE, out / "out", arch=ARCH, python_version=PYTHON, bundle=True, search_path=PATH)
    return unpack(out / "out" / "function.zip", out / "task")


def test_qrencode_bundle_holds_the_program_and_the_libraries_lambda_lacks(qrencode_task):
    assert sorted(p.name for p in (qrencode_task / "bin").iterdir()) == ["qrencode"]
    assert os.access(qrencode_task / "bin" / "qrencode", os.X_OK)
    # glibc (libc, libm, libpthread) comes from Lambda; the rest is bundled under the names the loader asks for
    assert sorted(p.name for p in (qrencode_task / "lib").iterdir()) == [
        "libpng16.so.16",
        "libqrencode.so.4",
        "libz.so.1",
    ]
    assert 'export PATH="$here/bin:$PATH"' in (qrencode_task / BOOTSTRAP).read_text()


def test_qrencode_zip_returns_a_png_with_only_a_bare_python_on_path(qrencode_task, tmp_path, monkeypatch):
    bare = make_bare_python(tmp_path)
    assert not (bare / "qrencode").exists()
    result = invoke_zip(qrencode_task, "qrencode.yaml", b'{"text": "hello"}', path=str(bare), monkeypatch=monkeypatch)
    assert (result.status, result.function_error) == (200, None), result.body
    png = base64.b64decode(json.loads(result.body))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_bundled_libraries_are_the_ones_the_loader_picks(qrencode_task):
    """With the runtime environment the emulator gives (Lambda's LD_LIBRARY_PATH), lib/ wins over the system's."""
    env = runtime_env(
        api_address="127.0.0.1:1", function_name="f", memory_mb=128, timeout_s=3, task_root=str(qrencode_task),
        handler=None, max_concurrency=None, extra={}, parent={"PATH": "/usr/bin:/bin"},
    )
    assert f"{qrencode_task}/lib" in env["LD_LIBRARY_PATH"].split(":")
    assert "/opt/bin" in env["PATH"].split(":")
    trace = subprocess.run(
        [str(qrencode_task / "bin" / "qrencode")],
        env={"LD_LIBRARY_PATH": env["LD_LIBRARY_PATH"], "LD_TRACE_LOADED_OBJECTS": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for library in ("libqrencode.so.4", "libpng16.so.16", "libz.so.1"):
        assert f"{library} => {qrencode_task}/lib/{library}" in trace


def test_jq_is_refused_naming_the_glibc_symbol_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(PackageError) as refused:
        package(JQ, out, arch=ARCH, python_version=PYTHON, bundle=True, search_path=PATH)
    message = str(refused.value)
    assert "libjq.so.1 (needed by jq) needs hypot@GLIBC_2.35 from libm.so.6; AL2023 has glibc 2.34" in message
    assert "image route" in message and "static build" in message
    assert not out.exists()


def test_cli_refuses_jq_with_exit_2_and_leaves_out_untouched(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["package", str(JQ), "--out", str(out), "--bundle"]) == 2
    assert "hypot@GLIBC_2.35" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_program_for_another_architecture_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    here = "aarch64" if ARCH == "arm64" else "x86_64"
    refusal = rf"'qrencode' \(.*\) is built for {here} \(64-bit\), but --arch is {OTHER_ARCH}"
    with pytest.raises(PackageError, match=refusal):
        package(QRENCODE, out, arch=OTHER_ARCH, python_version=PYTHON, bundle=True, search_path=PATH)
    assert not out.exists()


def test_a_static_program_needs_no_libraries(tmp_path, capsys):
    """ldconfig is static-pie on Debian: no loader, no DT_NEEDED."""
    config = tmp_path / "project" / "f.yaml"
    config.parent.mkdir()
    config.write_text("command: [cat]\n")
    package(config, tmp_path / "out", arch=ARCH, python_version=PYTHON, bundle_programs=["ldconfig"],
            search_path="/sbin:/usr/sbin")
    assert "Bundling 'ldconfig' (" in capsys.readouterr().err
    task = unpack(tmp_path / "out" / "function.zip", tmp_path / "task")
    assert (task / "bin" / "ldconfig").is_file() and not (task / "lib").exists()


def test_bundle_program_adds_more_programs_beside_command0(tmp_path):
    config = tmp_path / "project" / "f.yaml"
    config.parent.mkdir()
    config.write_text("command: [qrencode]\n")
    package(config, tmp_path / "out", arch=ARCH, python_version=PYTHON, bundle=True, bundle_programs=["base64"],
            search_path=PATH)
    task = unpack(tmp_path / "out" / "function.zip", tmp_path / "task")
    assert sorted(p.name for p in (task / "bin").iterdir()) == ["base64", "qrencode"]


@pytest.mark.parametrize(
    ("command", "programs", "message"),
    [
        ("[no-such-program-here]", [], "'no-such-program-here' is not on this machine's PATH"),
        ("[/usr/bin/qrencode]", [], "command\\[0\\] '/usr/bin/qrencode' is an absolute path"),
        ("[cat]", ["bin/tool"], "'bin/tool' is a path"),
    ],
)
def test_what_cannot_be_bundled_is_refused(tmp_path, command, programs, message):
    config = tmp_path / "project" / "f.yaml"
    config.parent.mkdir()
    config.write_text(f"command: {command}\n")
    with pytest.raises(PackageError, match=message):
        package(config, tmp_path / "out", arch=ARCH, python_version=PYTHON, bundle=not programs,
                bundle_programs=programs, search_path=PATH)
    assert not (tmp_path / "out").exists()


def test_elf_reading_names_the_symbols_of_each_version():
    libjq = read_elf(next(Path("/usr/lib").glob("*-linux-gnu/libjq.so.1")))  # Debian's multiarch layout
    needs = {(n.library, n.version): n.symbols for n in libjq.version_needs}
    assert needs[("libm.so.6", "GLIBC_2.35")] == ("hypot",)
    assert "libonig.so.5" in libjq.needed and libjq.interpreter is None


@pytest.mark.parametrize(
    ("library", "version", "refused"),
    [
        ("libc.so.6", "GLIBC_2.34", False),
        ("libm.so.6", "GLIBC_2.35", True),
        ("libc.so.6", "GLIBC_PRIVATE", False),
        ("libstdc++.so.6", "GLIBCXX_3.4.29", False),
        ("libstdc++.so.6", "GLIBCXX_3.4.30", True),
        ("libstdc++.so.6", "CXXABI_1.3.13", False),
        ("libgcc_s.so.1", "GCC_7.0.0", False),
        ("libgcc_s.so.1", "GCC_12.0.0", True),
        ("libpng16.so.16", "PNG16_0", False),  # bundled: its own versions travel with it
        ("libz.so.1", "ZLIB_1.2.9", False),
    ],
)
def test_symbol_versions_al2023_can_satisfy(library, version, refused):
    assert too_new(VersionNeed(library, version, ("f",))) is refused


def test_the_blackbox_example_bundled_probes_from_the_zip_with_only_a_bare_python_on_path(tmp_path, monkeypatch):
    """Server mode from the zip: the exporter starts from bin/ and answers a probe (of a closed local port)."""
    from benchmarks.cases import copy_server_config, free_port

    closed = free_port()  # the probe's target: nothing listens there
    # as shipped (egress guard included), on free ports, allowed to probe that one local target
    config = copy_server_config(tmp_path, closed, guard=True)
    package(config, tmp_path / "out", arch=ARCH, python_version=PYTHON, bundle=True, search_path=PATH)
    task = unpack(tmp_path / "out" / "function.zip", tmp_path / "task")
    assert sorted(p.name for p in (task / "bin").iterdir()) == ["prometheus-blackbox-exporter"]
    event = json.dumps({"target": f"http://127.0.0.1:{closed}/", "module": "http_2xx"}).encode()
    result = invoke_zip(task, "wrapper.yaml", event, path=str(make_bare_python(tmp_path)), monkeypatch=monkeypatch,
                        env={"WRAPPER_BEARER_TOKEN": "t"})
    assert (result.status, result.function_error) == (200, None), result.body
    assert b"probe_success 0" in result.body
