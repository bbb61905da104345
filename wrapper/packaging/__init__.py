"""Building blocks of `wrapper package`: checks, dependency vendoring, zip, image context, SAM template.

checks   which files ship (config, program, files it names, --include), ELF architecture, size limits
vendor   pip-installs the dependencies for the target platform; copies wrapper's own package
archive  writes a reproducible zip that keeps Unix modes
image    the container image build context (Dockerfile, entry script, a wheel of wrapper)
sam      template.yaml and deploy.sh (the same deployment with the aws CLI)
"""

from __future__ import annotations

from wrapper.errors import WrapperError


class PackageError(WrapperError):
    """Raise when a package cannot be built: bad input, a failed check or a failed dependency download."""
