"""Build-time helper: download the blackbox_exporter release tarball, verify its SHA-256, install the binary.

Usage: python3 fetch_exporter.py URL SHA256 DEST. Stdlib only, because the Lambda base image has no curl or tar
we can count on. Any mismatch or surprise fails the image build.
"""

import hashlib
import io
import os
import sys
import tarfile
import urllib.request


def main(url: str, sha256: str, dest: str) -> None:
    """Fetch URL, check it against sha256, and write its blackbox_exporter binary to dest (mode 755)."""
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256.lower():
        raise SystemExit(f"checksum mismatch for {url}: got {digest}, expected {sha256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        # The tarball holds blackbox_exporter-VERSION.linux-ARCH/blackbox_exporter; take that one file only.
        members = [m for m in archive.getmembers() if m.isfile() and os.path.basename(m.name) == "blackbox_exporter"]
        if len(members) != 1:
            raise SystemExit(f"expected one blackbox_exporter binary in {url}, found {len(members)}")
        binary = archive.extractfile(members[0]).read()
    with open(dest, "wb") as out:
        out.write(binary)
    os.chmod(dest, 0o755)
    print(f"installed {dest} ({len(binary)} bytes) from {url}, sha256 {digest}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
