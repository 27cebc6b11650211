"""Running another architecture's containers under qemu-user with what a real device of that architecture has.

qemu-user emulates a CPU, not a kernel: ``/proc`` is the host's. qemu 7.2 (Debian bookworm's, the one these
machines have) passes the host's ``/proc/cpuinfo`` through to an aarch64 guest unchanged, so an arm64 program
reads an x86 CPU description there. Most programs never look; onnxruntime does (its cpuinfo library parses
``/proc/cpuinfo`` at import to pick its kernels) and crashes on it: ``qemu: uncaught target signal 11
(Segmentation fault)`` before the first request (measured: onnxruntime 1.32.0, the ``digits`` image). A real
arm64 device has an arm64 ``/proc/cpuinfo``.

So a container of another architecture gets one bind-mounted read-only over ``/proc/cpuinfo`` (the mount
LXCFS uses; runc allows it): one entry per online host CPU describing an Armv8.2-A core (Neoverse-N1 /
Cortex-A76 class, the common edge-gateway core) with the features qemu's default ``max`` CPU provides. It is
a description of the emulated CPU, not a change to what runs: the same image runs unchanged on a real device.
Only arm64 guests on a non-arm64 host need it; every other case gets no extra arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from factory.adapters.local.base_image import host_arch

# Armv8.2-A features (as the kernel names them) that qemu's aarch64 "max" CPU implements
ARM64_FEATURES = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
                  "dcpop asimddp")
ARM64_CORE = {"CPU implementer": "0x41", "CPU architecture": "8", "CPU variant": "0x3", "CPU part": "0xd0c",
              "CPU revision": "1"}  # Arm Ltd., Neoverse-N1


def arm64_cpuinfo(cpus: int) -> str:
    """The text of an arm64 ``/proc/cpuinfo`` with ``cpus`` processors, in the kernel's layout."""
    if cpus < 1:
        raise ValueError(f"cpus: expected at least 1, got {cpus}")
    entries = []
    for index in range(cpus):
        lines = [f"processor\t: {index}", "BogoMIPS\t: 50.00", f"Features\t: {ARM64_FEATURES}"]
        lines += [f"{key}\t: {value}" for key, value in ARM64_CORE.items()]
        entries.append("\n".join(lines) + "\n")
    return "\n".join(entries) + "\n"


def needs_cpuinfo(arch: str, host: str | None = None) -> bool:
    """True when a container of ``arch`` runs under qemu-user here and would see the host's CPU description."""
    return bool(arch) and arch == "arm64" and (host or host_arch()) != "arm64"


def run_args(arch: str, folder: Path) -> list[str]:
    """Extra ``podman run`` arguments for a container of ``arch``: the arm64 ``/proc/cpuinfo`` mount when it
    runs emulated (the file is written under ``folder`` once, world-readable: the image's user reads it)."""
    if not needs_cpuinfo(arch):
        return []
    path = Path(folder) / f"cpuinfo-{arch}"
    text = arm64_cpuinfo(os.cpu_count() or 1)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(text)
        temporary.chmod(0o644)
        temporary.replace(path)
    return ["-v", f"{path}:/proc/cpuinfo:ro"]
