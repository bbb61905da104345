"""Building blocks of `wrapper package`: checks, vendoring, bundling, zip, image context, SAM template.

build      the sequence: check everything, then build in a temporary directory, then publish
checks     which files ship (config, program, files it names, --include), ELF architecture, size limits
vendor     wrapper's run-path modules (and jmespath for configs with inputs), .pyc for the target Python
bundle     --bundle: a program from PATH and the shared libraries Lambda lacks, checked before anything is copied
elf        the ELF facts bundle reads (pyelftools); al2023: what Lambda's Amazon Linux 2023 provides
bootstrap  the script Lambda starts; archive: a reproducible zip that keeps Unix modes
image      the container image build context (the zip's tree on Lambda's Python image)
sam        template.yaml and deploy.sh (the same deployment with the aws CLI)
"""

from __future__ import annotations

from wrapper.errors import WrapperError


class PackageError(WrapperError):
    """Raise when a package cannot be built: bad input, a failed check or a failed dependency download."""
