"""The container image build context: Dockerfile, entry script, and task/, the very tree function.zip holds.

The image route runs what the zip runs: the same bootstrap, the same vendor/ (wrapper's run path, no pydantic or
YAML), the same compiled config, the same bundled bin/ and lib/. Only the base differs: Lambda's Python image
instead of the managed runtime, so programs can be installed there with dnf when they cannot be bundled.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from wrapper.packaging.bootstrap import BOOTSTRAP
from wrapper.packaging.target import Target

ENTRY_SCRIPT = f"""\
#!/bin/sh
# ENTRYPOINT of the image. On Lambda, AWS_LAMBDA_RUNTIME_API is set and the bootstrap (the zip's own) is the
# runtime. Run locally (`docker run -p 9000:8080 IMAGE`), it is not: the Runtime Interface Emulator that ships in
# the base image then serves the Runtime API and the invoke endpoint, and starts the bootstrap itself.
if [ -z "${{AWS_LAMBDA_RUNTIME_API}}" ]; then
    exec /usr/local/bin/aws-lambda-rie /var/task/{BOOTSTRAP} "$@"
fi
exec /var/task/{BOOTSTRAP} "$@"
"""


def write_image_context(
    context: Path, function_dir: Path, target: Target, *, config_name: str, image_name: str, program_note: str | None
) -> None:
    """Write the build context into context (which must not exist yet); task/ is a copy of function_dir."""
    context.mkdir(parents=True)
    shutil.copytree(function_dir, context / "task")
    entry = context / "entry.sh"
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    entry.chmod(0o755)  # COPY keeps the context's modes
    (context / "Dockerfile").write_text(
        render_dockerfile(target, config_name=config_name, image_name=image_name, program_note=program_note),
        encoding="utf-8",
    )
    (context / ".dockerignore").write_text("template.yaml\n", encoding="utf-8")


def render_dockerfile(target: Target, *, config_name: str, image_name: str, program_note: str | None) -> str:
    """The Dockerfile text."""
    note = "".join(f"# {line}\n" for line in program_note.splitlines()) if program_note else ""
    return f"""\
# Built by `wrapper package` from {config_name}. Lambda takes single-architecture images without attestations:
#   docker buildx build --platform {target.docker_platform} --provenance=false --sbom=false -t {image_name}:latest .
# Try it locally (the Runtime Interface Emulator starts when AWS_LAMBDA_RUNTIME_API is unset):
#   docker run --rm -p 9000:8080 {image_name}:latest
#   curl -d '{{}}' http://localhost:9000/2015-03-31/functions/function/invocations
FROM public.ecr.aws/lambda/python:{target.python_version}

# The tree of function.zip: bootstrap, the config and its compiled form, vendor/ (wrapper's run path, compiled
# for Python {target.python_version}), the files the config names, and bundled programs in bin/ and lib/ (lib/ is on
# the image's LD_LIBRARY_PATH). Programs that cannot be bundled: install them here, e.g. RUN dnf install -y jq
COPY task/ ${{LAMBDA_TASK_ROOT}}/
{note}
COPY entry.sh /wrapper-entry.sh
ENTRYPOINT ["/wrapper-entry.sh"]
CMD ["{config_name}"]
"""
