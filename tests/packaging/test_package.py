"""`wrapper package`: the zip runs under the emulator as Lambda runs it, the checks refuse bad input, the
descriptions parse. Real zip, real emulator, a bare interpreter."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from package_helpers import ARCH, LAMBDA_RUNTIME_ARGS, OTHER_ARCH, PYTHON, ROOT, invoke_zip, make_bare_python, unpack
from wrapper.cli.main import main
from wrapper.errors import ConfigError
from wrapper.packaging import PackageError
from wrapper.packaging.archive import write_zip
from wrapper.packaging.build import BOOTSTRAP, VENDOR_DIR, package
from wrapper.packaging.checks import UNZIPPED_LIMIT_BYTES
from wrapper.packaging.elf import elf_machine
from wrapper.packaging.sam import FunctionSpec, function_name, render_deploy_script, render_template
from wrapper.packaging.target import resolve_target

ECHO = ROOT / "configs" / "echo.yaml"


@pytest.fixture(scope="session")
def echo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/echo.yaml packaged for this machine's architecture and Python."""
    out = tmp_path_factory.mktemp("echo") / "out"
    package(ECHO, out, arch=ARCH, python_version=PYTHON)
    return out


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bare_python(tmp_path_factory.mktemp("bare"))


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short forms (!Ref, !GetAtt, ...) as {tag: value}."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def write_project(root: Path, config: str, files: dict[str, tuple[bytes, int]]) -> Path:
    """A project tree: NAME.yaml plus files (path → content, mode); returns the config path."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, (content, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    config_path = root / "function.yaml"
    config_path.write_text(config, encoding="utf-8")
    return config_path


def elf_header(machine: int, *, big_endian: bool = False) -> bytes:
    """The first 64 bytes of an ELF64 executable for `machine`: enough for any header check."""
    order = "big" if big_endian else "little"
    ident = b"\x7fELF" + bytes([2, 2 if big_endian else 1, 1]) + bytes(9)
    return ident + (2).to_bytes(2, order) + machine.to_bytes(2, order) + (1).to_bytes(4, order) + bytes(40)


ELF_MACHINE = {"x86_64": 62, "arm64": 183}


# 1. the echo config, run from the unpacked zip under the emulator


def test_echo_zip_runs_under_emulator_with_only_vendored_packages(echo_out, bare_python, tmp_path, monkeypatch):
    task_root = unpack(echo_out / "function.zip", tmp_path / "task")
    payload = b'{"hello": "world!"}'
    path = f"{bare_python}:{os.environ['PATH']}"
    result = invoke_zip(task_root, "echo.yaml", payload, path=path, monkeypatch=monkeypatch)
    assert (result.status, result.function_error, result.body) == (200, None, payload)


def test_hot_configs_run_from_the_zip(bare_python, tmp_path, monkeypatch):
    """Hot mode from the packaged zip: echo-hot (lines) and the unicode-names worker (actionloop, shipped beside)."""
    path = f"{bare_python}:{os.environ['PATH']}"
    echo_hot = tmp_path / "echo-hot"
    package(ROOT / "configs" / "echo-hot.yaml", echo_hot, arch=ARCH, python_version=PYTHON)
    task_root = unpack(echo_hot / "function.zip", tmp_path / "task-echo-hot")
    result = invoke_zip(task_root, "echo-hot.yaml", b'{"hello": "world!"}', path=path, monkeypatch=monkeypatch)
    assert (result.status, result.function_error, result.body) == (200, None, b'{"hello":"world!"}')

    worker = tmp_path / "unicode-names"
    package(ROOT / "examples" / "unicode-names" / "wrapper.yaml", worker, arch=ARCH, python_version=PYTHON)
    task_root = unpack(worker / "function.zip", tmp_path / "task-worker")
    assert (task_root / "worker.py").is_file()
    result = invoke_zip(task_root, "wrapper.yaml", b'{"q": "snowman"}', path=path, monkeypatch=monkeypatch)
    assert result.function_error is None, result.body
    assert json.loads(result.body)["matches"][0]["name"] == "SNOWMAN"


# 2. a program inside the project tree, and a file named on the command line


UPPER_CONFIG = """\
version: 1
command: [bin/upper.sh]
args: [suffix.txt]
stdin: event
timeout_s: 10
"""
# the program's cwd is a scratch dir; LAMBDA_TASK_ROOT (passed to programs) is where the shipped files are
UPPER_SH = b'#!/bin/sh\ntr a-z A-Z\ncat "$LAMBDA_TASK_ROOT/$1"\n'


def test_program_in_project_tree_is_shipped_executable_and_runs(bare_python, tmp_path, monkeypatch, capsys):
    # mode 0644 on purpose: a checkout that lost the x bit still gives a runnable zip
    config = write_project(
        tmp_path / "project", UPPER_CONFIG, {"bin/upper.sh": (UPPER_SH, 0o644), "suffix.txt": (b"!", 0o644)}
    )
    out = tmp_path / "out"
    package(config, out, arch=ARCH, python_version=PYTHON)
    assert "Shipping 'suffix.txt' (named in args[0])" in capsys.readouterr().err
    task_root = unpack(out / "function.zip", tmp_path / "task")
    assert stat.S_IMODE((task_root / "bin" / "upper.sh").stat().st_mode) == 0o755
    path = f"{bare_python}:{os.environ['PATH']}"
    result = invoke_zip(task_root, "function.yaml", b'{"say": "hi"}', path=path, monkeypatch=monkeypatch)
    assert (result.status, result.function_error, result.body) == (200, None, b'{"SAY": "HI"}!')


# 3. layout of the zip and the image context; the descriptions parse


def test_zip_layout(echo_out):
    with zipfile.ZipFile(echo_out / "function.zip") as archive:
        infos = {info.filename: info for info in archive.infolist()}
        bootstrap = archive.read(BOOTSTRAP).decode()
    assert stat.S_IMODE(infos[BOOTSTRAP].external_attr >> 16) == 0o755
    assert stat.S_IMODE(infos["echo.yaml"].external_attr >> 16) == 0o644
    assert f'PYTHONPATH="$here/{VENDOR_DIR}"' in bootstrap and 'main(["run", "--compiled-only"])' in bootstrap
    assert 'export PATH="$here/bin:$PATH"' not in bootstrap  # nothing bundled
    assert "echo.compiled.json" in infos
    for module in ("wrapper/__init__.py", "wrapper/cli/main.py", "wrapper/runtime/loop.py"):
        assert f"{VENDOR_DIR}/{module}" in infos, module
    # only what the run path imports: no other distribution, no packaging-side module of wrapper
    tops = {name.split("/")[1] for name in infos if name.startswith(f"{VENDOR_DIR}/")}
    assert tops == {"wrapper"}
    for module in ("wrapper/config/schema.py", "wrapper/packaging/build.py", "wrapper/emulator/core.py"):
        assert f"{VENDOR_DIR}/{module}" not in infos, module


def test_bootstrap_ignores_lambda_arguments_and_needs_no_site_packages(echo_out, bare_python, tmp_path):
    """Without a Runtime API, `wrapper run` must fail with its own usage message: proof the bootstrap reached it."""
    task_root = unpack(echo_out / "function.zip", tmp_path / "task")
    env = {"PATH": f"{bare_python}{os.pathsep}{os.environ['PATH']}", "LANG": "C.UTF-8"}
    done = subprocess.run(
        [str(task_root / BOOTSTRAP), *LAMBDA_RUNTIME_ARGS], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert b"AWS_LAMBDA_RUNTIME_API is not set" in done.stderr


def test_sam_template_names_handler_runtime_and_architecture(echo_out):
    template = yaml.load((echo_out / "template.yaml").read_text(), Loader=CloudFormationLoader)
    function = template["Resources"]["Function"]
    assert function["Type"] == "AWS::Serverless::Function"
    props = function["Properties"]
    assert props["Handler"] == "echo.yaml"
    assert props["Runtime"] == f"python{PYTHON}"
    assert props["Architectures"] == [ARCH]
    assert props["CodeUri"] == "function.zip" and (echo_out / props["CodeUri"]).is_file()
    assert props["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/var/task/bootstrap"
    assert props["Timeout"] == 12  # echo.yaml: timeout_s 10 + deadline margin 0.5 + 1, rounded up
    assert props["MemorySize"] == {"Ref": "MemorySize"}
    assert template["Resources"]["FunctionUrl"]["Properties"]["AuthType"] == {"Ref": "FunctionUrlAuthType"}
    assert template["Resources"]["FunctionUrl"]["Properties"]["InvokeMode"] == "BUFFERED"
    assert template["Resources"]["Schedule"]["Condition"] == "HasSchedule"

    image = yaml.load((echo_out / "image" / "template.yaml").read_text(), Loader=CloudFormationLoader)
    assert image["Resources"]["Function"]["Properties"]["PackageType"] == "Image"
    assert image["Resources"]["Function"]["Properties"]["Architectures"] == [ARCH]
    assert image["Resources"]["Function"]["Metadata"]["Dockerfile"] == "Dockerfile"


def test_a_streaming_config_gets_a_response_stream_function_url():
    spec = FunctionSpec(name="stream", handler="stream.yaml", target=resolve_target(ARCH, None), timeout_s=62,
                        invoke_mode="RESPONSE_STREAM")
    template = yaml.load(render_template(spec, package_type="zip"), Loader=CloudFormationLoader)
    assert template["Resources"]["FunctionUrl"]["Properties"]["InvokeMode"] == "RESPONSE_STREAM"


def test_templates_pass_cfn_lint_when_it_is_installed():
    """cfn-lint is optional: the check runs where it is installed and is a no-op elsewhere."""
    if importlib.util.find_spec("cfnlint") is None:
        return
    import cfnlint.api

    # the default target: cfn-lint rightly flags deprecated runtimes, and the running Python may be one
    spec = FunctionSpec(name="echo", handler="echo.yaml", target=resolve_target(OTHER_ARCH, None), timeout_s=12)
    for package_type in ("zip", "image"):
        matches = cfnlint.api.lint(render_template(spec, package_type=package_type), regions=["us-east-1"])
        errors = [str(m) for m in matches if m.rule.id.startswith("E")]  # warnings and infos do not fail
        assert not errors, (package_type, errors)


def test_image_context(echo_out, tmp_path):
    image = echo_out / "image"
    dockerfile = (image / "Dockerfile").read_text()
    assert f"FROM public.ecr.aws/lambda/python:{PYTHON}\n" in dockerfile
    assert 'ENTRYPOINT ["/wrapper-entry.sh"]\nCMD ["echo.yaml"]\n' in dockerfile
    assert f"--platform linux/{'amd64' if ARCH == 'x86_64' else 'arm64'} --provenance=false --sbom=false" in dockerfile
    entry = image / "entry.sh"
    assert os.access(entry, os.X_OK)
    assert (
        "/usr/local/bin/aws-lambda-rie" in entry.read_text()
        and 'if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]' in entry.read_text()
    )
    # the zip's own tree: the image runs exactly what the zip runs
    with zipfile.ZipFile(echo_out / "function.zip") as archive:
        zipped = {info.filename: archive.read(info) for info in archive.infolist()}
    task = image / "task"
    in_image = {p.relative_to(task).as_posix(): p.read_bytes() for p in task.rglob("*") if p.is_file()}
    assert in_image == zipped
    assert os.access(task / BOOTSTRAP, os.X_OK)
    assert "exec /var/task/bootstrap" in entry.read_text()
    assert not list(image.glob("*.whl")) and not (image / "requirements.txt").exists()


def test_deploy_script_is_valid_sh_and_has_every_step(echo_out, tmp_path):
    script = echo_out / "deploy.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["sh", "-n", str(script)], check=True)
    text = script.read_text()
    for command in (
        "aws iam create-role",
        "AWSLambdaBasicExecutionRole",
        "aws lambda create-function",
        "--handler echo.yaml",
        f"--architectures {ARCH}",
        "AWS_LAMBDA_EXEC_WRAPPER=/var/task/bootstrap",
        "aws lambda invoke",
        "aws logs tail",
        "aws lambda delete-function",
        "aws iam delete-role",
    ):
        assert command in text, command
    # a stand-in `aws` first on PATH: whatever happens, this test never reaches a real AWS account
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "aws").write_text("#!/bin/sh\nexit 99\n")
    (fake_bin / "aws").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    usage = subprocess.run([str(script)], capture_output=True, text=True, env=env, check=False)
    assert usage.returncode == 2 and "./deploy.sh create" in usage.stdout


def test_zip_is_reproducible_and_keeps_modes(tmp_path):
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool").write_text("#!/bin/sh\n")
    (tree / "bin" / "tool").chmod(0o775)
    (tree / "data.txt").write_text("x")
    (tree / "data.txt").chmod(0o600)
    write_zip(tree, tmp_path / "a.zip")
    os.utime(tree / "data.txt", (0, 0))
    write_zip(tree, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        modes = {i.filename: stat.S_IMODE(i.external_attr >> 16) for i in archive.infolist()}
    assert modes == {"bin/tool": 0o755, "data.txt": 0o644}


def test_include_and_named_files_keep_their_paths(tmp_path):
    config = write_project(
        tmp_path / "project",
        "command: [tool, --config.file=conf/modules.yml, /var/task/extra.txt]\n",
        {
            "conf/modules.yml": (b"modules: {}\n", 0o644),
            "extra.txt": (b"x", 0o644),
            "data/a.txt": (b"a", 0o644),
            "data/sub/run.sh": (b"#!/bin/sh\n", 0o755),
            "unrelated.txt": (b"not shipped", 0o644),
        },
    )
    out = tmp_path / "out"
    package(config, out, arch=ARCH, python_version=PYTHON, include=["data"])
    with zipfile.ZipFile(out / "function.zip") as archive:
        names = {
            i.filename: stat.S_IMODE(i.external_attr >> 16)
            for i in archive.infolist()
            if not i.filename.startswith(VENDOR_DIR)
        }
    assert names == {
        "bootstrap": 0o755,
        "function.yaml": 0o644,
        "function.compiled.json": 0o644,  # the config validated at package time, for a fast cold start
        "conf/modules.yml": 0o644,
        "extra.txt": 0o644,
        "data/a.txt": 0o644,
        "data/sub/run.sh": 0o755,
    }
    task = out / "image" / "task"
    in_image = {p.relative_to(task).as_posix() for p in task.rglob("*") if p.is_file()}
    assert {n for n in in_image if not n.startswith(VENDOR_DIR)} == set(names)


# 4. checks: a failed check names the problem and writes nothing


def test_oversize_program_is_refused_before_anything_is_written(tmp_path):
    big = tmp_path / "project" / "bin" / "big"
    config = write_project(tmp_path / "project", "command: [bin/big]\n", {"bin/big": (b"#!/bin/sh\n", 0o755)})
    os.truncate(big, 251 * 1024 * 1024)  # sparse: costs no disk
    out = tmp_path / "out"
    with pytest.raises(PackageError, match=r"251\.0 MB unzipped .*over Lambda's 250 MB limit.*'bin/big'"):
        package(config, out, arch=ARCH, python_version=PYTHON)
    assert not out.exists()


def test_size_with_wrapper_is_checked_before_the_zip_is_written(tmp_path):
    """A program 100 kB under the limit passes alone; with wrapper's modules it is over 250 MB."""
    config = write_project(tmp_path / "project", "command: [bin/big]\n", {"bin/big": (b"#!/bin/sh\n", 0o755)})
    os.truncate(tmp_path / "project" / "bin" / "big", UNZIPPED_LIMIT_BYTES - 100_000)
    out = tmp_path / "out"
    with pytest.raises(PackageError, match=r"MB unzipped \(with wrapper\), over Lambda's 250 MB limit"):
        package(config, out, arch=ARCH, python_version=PYTHON)
    assert not out.exists()


def test_zip_over_50_mb_warns_and_deploys_through_s3(tmp_path, capsys):
    config = write_project(
        tmp_path / "project", "command: [cat, blob.bin]\n", {"blob.bin": (os.urandom(51 * 1024 * 1024), 0o644)}
    )
    out = tmp_path / "out"
    package(config, out, arch=ARCH, python_version=PYTHON)
    captured = capsys.readouterr()
    assert "over the 50 MB limit for direct upload" in captured.err
    script = (out / "deploy.sh").read_text()
    assert 'aws s3 cp function.zip "s3://${BUCKET:?' in script and '--code "S3Bucket=$BUCKET' in script
    assert "fileb://function.zip" not in script
    assert "BUCKET=your-bucket" in captured.out


def test_program_for_another_architecture_is_refused(tmp_path):
    config = write_project(
        tmp_path / "project", "command: [bin/tool]\n", {"bin/tool": (elf_header(ELF_MACHINE[OTHER_ARCH]), 0o755)}
    )
    out = tmp_path / "out"
    other = "aarch64" if OTHER_ARCH == "arm64" else "x86_64"
    with pytest.raises(PackageError, match=rf"^Program 'bin/tool' is built for {other}, but --arch is {ARCH}$"):
        package(config, out, arch=ARCH, python_version=PYTHON)
    assert not out.exists()


def test_cli_reports_a_failed_check_and_exits_2_leaving_out_untouched(tmp_path, capsys):
    config = write_project(tmp_path / "project", "command: [bin/tool]\n", {"bin/tool": (elf_header(62), 0o755)})
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["package", str(config), "--out", str(out), "--arch", "arm64"]) == 2
    assert "wrapper package: Program 'bin/tool' is built for x86_64, but --arch is arm64" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("config", "files", "message"),
    [
        ("command: [bin/missing]\n", {}, r"Program 'bin/missing' not found"),
        ("command: [../outside.sh]\n", {}, r"Program '../outside.sh' is outside the config's directory"),
        (
            "command: [vendor/x.sh]\n",
            {"vendor/x.sh": (b"#!/bin/sh\n", 0o755)},
            r"'vendor/x.sh' would overwrite the package's own 'vendor'",
        ),
        ("command: [cat]\nbogus: 1\n", {}, r"bogus"),
    ],
)
def test_bad_inputs_are_refused(tmp_path, config, files, message):
    config_path = write_project(tmp_path / "project", config, files)
    with pytest.raises((PackageError, ConfigError), match=message):
        package(config_path, tmp_path / "out", arch=ARCH, python_version=PYTHON)
    assert not (tmp_path / "out").exists()


def test_config_name_must_work_as_a_handler(tmp_path):
    config = tmp_path / "my config.yaml"
    config.write_text("command: [cat]\n")
    with pytest.raises(PackageError, match="not usable as Lambda's Handler"):
        package(config, tmp_path / "out", arch=ARCH, python_version=PYTHON)


@pytest.mark.parametrize(
    ("arch", "python", "message"),
    [
        ("sparc", None, "--arch must be x86_64 or arm64"),
        (ARCH, "3.10", "wrapper needs Python 3.11 or newer"),
        (ARCH, "3", "--python must look like 3.12"),
    ],
)
def test_bad_target_is_refused(tmp_path, arch, python, message):
    with pytest.raises(PackageError, match=message):
        package(ECHO, tmp_path / "out", arch=arch, python_version=python)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (elf_header(62), "EM_X86_64"),
        (elf_header(183), "EM_AARCH64"),
        (elf_header(183, big_endian=True), "EM_AARCH64"),
        (b"#!/bin/sh\necho hi\n", None),
        (b"\x7fEL", None),
    ],
)
def test_elf_machine(tmp_path, header, expected):
    path = tmp_path / "file"
    path.write_bytes(header)
    assert elf_machine(path) == expected


def test_elf_machine_of_this_interpreter():
    assert elf_machine(Path(os.path.realpath(sys.executable))) == resolve_target(ARCH, None).elf_machine


def test_bearer_token_variable_becomes_a_secret_parameter():
    spec = FunctionSpec(
        name="probe",
        handler="wrapper.yaml",
        target=resolve_target(ARCH, None),
        timeout_s=17,
        token_env="WRAPPER_BEARER_TOKEN",
    )
    for package_type in ("zip", "image"):
        template = yaml.load(render_template(spec, package_type=package_type), Loader=CloudFormationLoader)
        assert template["Parameters"]["BearerToken"]["NoEcho"] is True
        variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
        assert variables["WRAPPER_BEARER_TOKEN"] == {"Ref": "BearerToken"}
    script = render_deploy_script(spec, via_s3=False)
    assert "WRAPPER_BEARER_TOKEN=${WRAPPER_BEARER_TOKEN:?" in script


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("configs/echo.yaml", "echo"),
        ("examples/blackbox-exporter/wrapper.yaml", "blackbox-exporter"),
        ("x/my tool.yml", "my-tool"),
    ],
)
def test_function_name(path, name):
    assert function_name(Path(path)) == name
