"""`wrapper package`: one config → a zip for Lambda's managed Python runtime, an image build context, a SAM template.

Everything is checked and built in a temporary directory first (config, program, ELF architecture, what a bundled
program needs, Lambda's size limits), so a failed check writes nothing into the output directory. Output:

    OUT/function.zip    bootstrap, the config and its compiled form, the files it names, vendor/ (what the run path
                        imports: wrapper's runtime, jmespath when there are inputs), with --bundle bin/ and lib/
    OUT/template.yaml   SAM: the zip function (python3.x + AWS_LAMBDA_EXEC_WRAPPER), optional Function URL, schedule
    OUT/deploy.sh       the same deployment with the aws CLI: create, update, invoke, logs, delete
    OUT/image/          Dockerfile, entry.sh, task/ (the same tree as function.zip), and template.yaml for the
                        image route
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from wrapper.config.compiled import compiled_path, dump_compiled
from wrapper.config.loader import from_schema, parse_config
from wrapper.config.values import CONFIG_DIR_PLACEHOLDER
from wrapper.packaging import PackageError
from wrapper.packaging.archive import tree_size, write_zip
from wrapper.packaging.bootstrap import BOOTSTRAP, BUNDLED_PROGRAM, VENDOR_DIR, render_bootstrap
from wrapper.packaging.bundle import ProgramSource, find_program, plan_bundle
from wrapper.packaging.checks import (
    ZIPPED_LIMIT_BYTES,
    ShipFile,
    check_architecture,
    check_unzipped_size,
    collect_files,
    format_size,
)
from wrapper.packaging.image import write_image_context
from wrapper.packaging.sam import (
    FunctionSpec,
    function_name,
    function_timeout_s,
    next_commands,
    render_deploy_script,
    render_template,
)
from wrapper.packaging.target import Target, resolve_target
from wrapper.packaging.vendor import copy_jmespath, copy_wrapper_package, needs_jmespath, precompile

__all__ = ["BOOTSTRAP", "VENDOR_DIR", "PackageError", "package", "render_bootstrap"]

OUTPUTS = ("function.zip", "template.yaml", "deploy.sh", "image")


def package(
    config_path: Path,
    out_dir: Path,
    *,
    arch: str | None,
    python_version: str | None,
    include: Sequence[str | os.PathLike[str]] = (),
    bundle: bool = False,
    bundle_programs: Sequence[str] = (),
    search_path: str = os.defpath,
    library_path: str = "",
    compile_with: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Check the config and its files, then write function.zip, template.yaml, deploy.sh and image/ into out_dir.

    bundle copies command[0] from search_path (this machine's PATH) into bin/ with the libraries Lambda lacks;
    bundle_programs does the same for more programs. compile_with is the target Python that compiles .pyc files.
    """
    say = echo or _to_stderr
    config_path, out_dir = Path(config_path), Path(out_dir)
    target = resolve_target(arch, python_version)
    written = parse_config(config_path)  # as written: `{config_dir}` stays a placeholder, not this machine's path
    # `{config_dir}/x` names x beside the config: find the files to ship as if the words were relative
    config = written.model_copy(
        update={"command": [w.replace(CONFIG_DIR_PLACEHOLDER + "/", "") for w in written.command]}
    )
    if out_dir.exists() and not out_dir.is_dir():
        raise PackageError(f"--out {out_dir} exists and is not a directory")
    files, notes = collect_files(
        config, config_path, list(include), reserved=(BOOTSTRAP, VENDOR_DIR), bundling=bundle
    )
    out_resolved = out_dir.resolve()
    files = [f for f in files if not f.source.resolve().is_relative_to(out_resolved)]  # `--include .` with OUT inside
    if bundle or bundle_programs:
        programs = _programs_to_bundle(config.command[0] if bundle else None, bundle_programs, files, search_path)
        bundled, bundle_notes = plan_bundle(programs, target, library_path=library_path)
        files = _add_bundled(files, bundled)
        notes += bundle_notes
    for note in notes:
        say(note)
    check_architecture(files, target)
    check_unzipped_size(sum(f.source.stat().st_size for f in files), files, stage="the config and its files alone")

    with tempfile.TemporaryDirectory(prefix="wrapper-package-") as tmp:
        staging = Path(tmp)
        function = staging / "function"
        vendor = function / VENDOR_DIR
        copy_wrapper_package(vendor)
        if needs_jmespath(config):
            copy_jmespath(vendor)
        why_not = precompile(vendor, target, compile_with=compile_with, search_path=search_path)
        if why_not:
            say(f"Note: {why_not}")
        bootstrap = function / BOOTSTRAP
        bootstrap.write_text(
            render_bootstrap(config_path.name, bundled=any(f.reason == BUNDLED_PROGRAM for f in files)),
            encoding="utf-8",
        )
        bootstrap.chmod(0o755)
        # the project's files are copied only once the total fits: a tree that is too big costs no disk
        unzipped = tree_size(function) + sum(f.source.stat().st_size for f in files)
        check_unzipped_size(unzipped, files, stage="with wrapper")
        _copy_files(files, function)
        # validated once here, so the runtime's cold start skips pydantic and YAML (see wrapper/config/compiled.py)
        compiled = function / compiled_path(config_path.name).name
        compiled.write_text(dump_compiled(from_schema(written), config_path.read_bytes()), encoding="utf-8")
        unzipped = tree_size(function)

        build = staging / "out"
        build.mkdir()
        say("Writing function.zip...")
        write_zip(function, build / "function.zip")
        zipped = (build / "function.zip").stat().st_size
        via_s3 = zipped > ZIPPED_LIMIT_BYTES
        if via_s3:
            say(
                f"Warning: function.zip is {format_size(zipped)}, over the 50 MB limit for direct upload: deploy.sh "
                "uploads it through S3 (set BUCKET); `sam deploy` always does."
            )
        spec = FunctionSpec(
            name=function_name(config_path),
            handler=config_path.name,
            target=target,
            timeout_s=function_timeout_s(config),
            token_env=config.auth.bearer_token_env,
            invoke_mode="RESPONSE_STREAM" if config.output.streaming else "BUFFERED",
        )
        (build / "template.yaml").write_text(render_template(spec, package_type="zip"), encoding="utf-8")
        deploy = build / "deploy.sh"
        deploy.write_text(render_deploy_script(spec, via_s3=via_s3), encoding="utf-8")
        deploy.chmod(0o755)
        write_image_context(
            build / "image",
            function,
            target,
            config_name=config_path.name,
            image_name=spec.name.lower(),
            program_note=_image_note(config.command[0], files),
        )
        (build / "image" / "template.yaml").write_text(render_template(spec, package_type="image"), encoding="utf-8")
        _publish(build, out_dir)
    print(_summary(out_dir, spec, zipped=zipped, unzipped=unzipped, via_s3=via_s3))


def _programs_to_bundle(
    command0: str | None, names: Sequence[str], files: list[ShipFile], search_path: str
) -> list[ProgramSource]:
    """command0 (when --bundle) and every --bundle-program NAME, each found where the runtime will find it."""
    programs: list[ProgramSource] = []
    if command0 is not None:
        shipped = [f for f in files if f.reason == "program"]
        if shipped:  # a program of the project tree: it ships anyway, --bundle adds its libraries
            programs.append(ProgramSource(command0, shipped[0].source, in_tree=True))
        elif os.path.isabs(command0):
            raise PackageError(
                f"--bundle: command[0] {command0!r} is an absolute path, which Lambda runs as it is; write it bare "
                f"({os.path.basename(command0)!r}) so the bundled copy in bin/ is the one found"
            )
        else:
            programs.append(ProgramSource(command0, find_program(command0, search_path), in_tree=False))
    for name in names:
        if name not in [p.name for p in programs]:
            programs.append(ProgramSource(name, find_program(name, search_path), in_tree=False))
    return programs


def _add_bundled(files: list[ShipFile], bundled: list[ShipFile]) -> list[ShipFile]:
    """The project's files plus the bundled ones; PackageError when one would overwrite a project file."""
    taken = {f.dest: f for f in files}
    clashes = [
        f"{b.dest!r} ({b.reason}) would overwrite the project's own {b.dest!r}" for b in bundled if b.dest in taken
    ]
    if clashes:
        raise PackageError("\n".join(clashes) + ": rename or remove the project's file")
    return sorted(files + bundled, key=lambda f: f.dest)


def _copy_files(files: list[ShipFile], into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for file in files:
        dest = into / file.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file.source, dest)  # follows symlinks: Lambda gets the content
        dest.chmod(file.mode)


def _publish(build: Path, out_dir: Path) -> None:
    """Move the built outputs into out_dir, replacing earlier ones of the same names only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        dest = out_dir / name
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        shutil.move(str(build / name), dest)


def _image_note(program: str, files: list[ShipFile]) -> str | None:
    if any(f.reason in ("program", BUNDLED_PROGRAM) for f in files):
        return None
    return (
        f"command[0] {program!r} is not in task/: the image must provide it. Bare names are looked up in PATH\n"
        f"(/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin), e.g. COPY {os.path.basename(program)} /opt/bin/"
    )


def _summary(out_dir: Path, spec: FunctionSpec, *, zipped: int, unzipped: int, via_s3: bool) -> str:
    t: Target = spec.target
    return f"""\
Wrote {out_dir}/
  function.zip    {format_size(zipped)} zipped, {format_size(unzipped)} unzipped ({t.runtime}, {t.arch}, handler \
{spec.handler})
  template.yaml   SAM, zip route: cd {out_dir} && sam deploy --guided
  deploy.sh       the same with the aws CLI: ./deploy.sh create | update | invoke [EVENT] | logs | delete
  image/          docker buildx build --platform {t.docker_platform} --provenance=false --sbom=false \
-t {spec.name.lower()}:latest {out_dir}/image
                  (SAM, image route: cd {out_dir}/image && sam build && sam deploy --guided --resolve-image-repos)

Next, with the aws CLI v2 (a region and credentials set up: `aws configure`, or AWS_REGION and AWS_PROFILE):
{next_commands(spec, str(out_dir), via_s3=via_s3)}"""


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
