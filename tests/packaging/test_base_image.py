"""The local base (assembled from Debian packages without emulation, no shell, no pip) runs what a server
needs on both architectures: the standard library modules that load shared libraries, TLS with the CA bundle,
a process pool, as the images' non-root user; and it holds no shell or package manager."""

from __future__ import annotations

import subprocess

import pytest

from factory.adapters.local import emulation
from factory.adapters.local.base_image import ARCHES, emulation_available, ensure_base_image
from factory.adapters.local.containers import engine

PROGRAM = """\
import bz2, ctypes, decimal, hashlib, json, lzma, multiprocessing, os, platform, shutil, sqlite3, ssl, uuid
import urllib.request, zlib, zoneinfo
context = ssl.create_default_context()
assert context.cert_store_stats()["x509_ca"] > 0, "no CA certificate loaded"
assert ssl.get_default_verify_paths().cafile == "/etc/ssl/certs/ca-certificates.crt"
assert sqlite3.connect(":memory:").execute("select 40 + 2").fetchone() == (42,)
assert lzma.decompress(lzma.compress(b"x")) == bz2.decompress(bz2.compress(b"x")) == b"x"
assert zlib.decompress(zlib.compress(b"x")) == b"x"
assert hashlib.sha256(b"").hexdigest().startswith("e3b0c442")
assert ctypes.sizeof(ctypes.c_void_p) == 8 and uuid.uuid4().version == 4
assert str(decimal.Decimal(1) / 3)[:4] == "0.33" and zoneinfo.ZoneInfo("Europe/Zurich")
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-1, -2]) == [1, 2]
assert urllib.request.Request("https://example.org").host == "example.org"
missing = [tool for tool in ("sh", "bash", "pip", "pip3", "apt-get", "dpkg", "ls") if shutil.which(tool)]
assert not missing, missing
print(platform.machine(), os.getuid(), json.dumps(context.cert_store_stats()["x509_ca"] > 0))
"""


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHES)
def test_the_base_runs_the_standard_library_a_server_needs(arch, tmp_path):
    if not emulation_available(arch):
        pytest.skip(f"{arch} binaries do not run here")
    eng = engine()
    base = ensure_base_image(eng, arch=arch)
    done = subprocess.run([eng.binary, "run", "--rm", "--platform", f"linux/{arch}", "--user", "10001:10001",
                           *emulation.run_args(arch, tmp_path / "emulation"), base, "python3", "-c", PROGRAM],
                          env=eng.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [{"amd64": "x86_64", "arm64": "aarch64"}[arch], "10001", "true"]
    inspected = eng.run(["image", "inspect", "--format", "{{.Architecture}} {{.Size}}", base]).stdout.split()
    assert inspected[0] == arch
