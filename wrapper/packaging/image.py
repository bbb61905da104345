"""The container image build context: Dockerfile, entry script, a wheel of wrapper, pins, and the project tree."""

from __future__ import annotations

import base64
import hashlib
import shutil
import stat
import zipfile
from pathlib import Path

import wrapper
from wrapper.packaging.archive import FIXED_TIME, UNIX_SYSTEM, list_files
from wrapper.packaging.target import Target
from wrapper.packaging.vendor import DEPENDENCIES

ENTRY_SCRIPT = """\
#!/bin/sh
# ENTRYPOINT of the image. On Lambda, AWS_LAMBDA_RUNTIME_API is set and wrapper is the runtime. Run locally
# (`docker run -p 9000:8080 IMAGE`), it is not: the Runtime Interface Emulator that ships in the base image then
# serves the Runtime API and the invoke endpoint, and starts wrapper itself.
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
    exec /usr/local/bin/aws-lambda-rie /var/lang/bin/python3 -m wrapper run "$@"
fi
exec /var/lang/bin/python3 -m wrapper run "$@"
"""


def write_image_context(
    context: Path,
    project_dir: Path,
    target: Target,
    *,
    config_name: str,
    image_name: str,
    program_note: str | None,
    pins: dict[str, str],
) -> None:
    """Write the build context into context (which must not exist yet)."""
    context.mkdir(parents=True)
    shutil.copytree(project_dir, context / "task")
    wheel = build_wheel(context)
    (context / "requirements.txt").write_text(
        "# The dependency versions vendored into function.zip, so the image runs the same code.\n"
        + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items(), key=lambda kv: kv[0].lower())),
        encoding="utf-8",
    )
    entry = context / "entry.sh"
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    entry.chmod(0o755)  # COPY keeps the context's modes
    (context / "Dockerfile").write_text(
        render_dockerfile(
            target, config_name=config_name, image_name=image_name, wheel_name=wheel.name, program_note=program_note
        ),
        encoding="utf-8",
    )
    (context / ".dockerignore").write_text("template.yaml\n", encoding="utf-8")


def render_dockerfile(
    target: Target, *, config_name: str, image_name: str, wheel_name: str, program_note: str | None
) -> str:
    """The Dockerfile text."""
    note = "".join(f"# {line}\n" for line in program_note.splitlines()) if program_note else ""
    return f"""\
# Built by `wrapper package` from {config_name}. Lambda takes single-architecture images without attestations:
#   docker buildx build --platform {target.docker_platform} --provenance=false --sbom=false -t {image_name}:latest .
# Try it locally (the Runtime Interface Emulator starts when AWS_LAMBDA_RUNTIME_API is unset):
#   docker run --rm -p 9000:8080 {image_name}:latest
#   curl -d '{{}}' http://localhost:9000/2015-03-31/functions/function/invocations
FROM public.ecr.aws/lambda/python:{target.python_version}

# wrapper, and its dependencies pinned to the versions in function.zip; installed here, in the image's own
# Python, so wheels always match the image's platform
COPY requirements.txt {wheel_name} /tmp/wrapper/
RUN pip install --no-cache-dir --constraint /tmp/wrapper/requirements.txt /tmp/wrapper/{wheel_name} \\
    && rm -rf /tmp/wrapper

# The config and the files it names, with the same layout as function.zip: relative paths in the config
# resolve against its directory, ${{LAMBDA_TASK_ROOT}} (/var/task). Extra binaries can go to /opt/bin (on PATH).
COPY task/ ${{LAMBDA_TASK_ROOT}}/
{note}
COPY entry.sh /wrapper-entry.sh
ENTRYPOINT ["/wrapper-entry.sh"]
CMD ["{config_name}"]
"""


def build_wheel(out_dir: Path) -> Path:
    """Write a py3-none-any wheel of wrapper's own package into out_dir (no build backend needed)."""
    name, version = "wrapper", wrapper.__version__
    dist_info = f"{name}-{version}.dist-info"
    source = Path(wrapper.__file__).resolve().parent
    entries: list[tuple[str, bytes, int]] = []
    for path in list_files(source):
        rel = path.relative_to(source)
        if path.suffix == ".py" and "__pycache__" not in rel.parts and not any(p.startswith(".") for p in rel.parts):
            entries.append((f"wrapper/{rel.as_posix()}", path.read_bytes(), 0o644))
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        "Summary: Turn any executable into an AWS Lambda function with one YAML file\nRequires-Python: >=3.11\n"
        + "".join(f"Requires-Dist: {dep}\n" for dep in DEPENDENCIES)
    )
    entries.append((f"{dist_info}/METADATA", metadata.encode(), 0o644))
    entries.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: wrapper package\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            0o644,
        )
    )
    entries.append((f"{dist_info}/entry_points.txt", b"[console_scripts]\nwrapper = wrapper.cli.main:main\n", 0o644))
    record = (
        "".join(f"{path},sha256={_digest(data)},{len(data)}\n" for path, data, _ in entries) + f"{dist_info}/RECORD,,\n"
    )
    entries.append((f"{dist_info}/RECORD", record.encode(), 0o644))
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name_in_wheel, data, mode in entries:
            info = zipfile.ZipInfo(name_in_wheel, date_time=FIXED_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
