"""Containers of another architecture under qemu-user see an arm64 ``/proc/cpuinfo``: without it onnxruntime
crashes at import under qemu-aarch64 7.2 (it parses the host's x86 description), so ONNX images could never
pass arm64 verification or the arm64 device's smoke test here."""

from __future__ import annotations

import stat
import subprocess

import pytest

from factory.adapters.local import emulation
from factory.adapters.local.base_image import base_ref, emulation_available, host_arch
from factory.adapters.local.containers import engine
from factory.packaging import deps
from tests.packaging.helpers import REPO


def _entries(text: str) -> list[dict[str, str]]:
    blocks = [block for block in text.split("\n\n") if block.strip()]
    return [dict((part.strip() for part in line.split(":", 1)) for line in block.splitlines()) for block in blocks]


def test_the_arm64_description_has_one_entry_per_cpu_in_the_kernels_layout():
    entries = _entries(emulation.arm64_cpuinfo(3))
    assert [entry["processor"] for entry in entries] == ["0", "1", "2"]
    for entry in entries:
        assert entry["CPU implementer"] == "0x41" and entry["CPU architecture"] == "8"
        assert "asimd" in entry["Features"].split()
    with pytest.raises(ValueError, match="at least 1"):
        emulation.arm64_cpuinfo(0)


@pytest.mark.parametrize(("arch", "host", "needed"), [
    ("arm64", "amd64", True), ("arm64", "arm64", False), ("amd64", "amd64", False), ("amd64", "arm64", False),
    ("", "amd64", False)])
def test_only_an_arm64_container_on_another_host_gets_the_mount(arch, host, needed):
    assert emulation.needs_cpuinfo(arch, host) is needed


@pytest.mark.skipif(host_arch() == "arm64", reason="on an arm64 host nothing is emulated")
def test_run_args_mount_a_world_readable_file_written_once(tmp_path):
    args = emulation.run_args("arm64", tmp_path / "emulation")
    path = tmp_path / "emulation" / "cpuinfo-arm64"
    assert args == ["-v", f"{path}:/proc/cpuinfo:ro"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert len(_entries(path.read_text())) >= 1
    before = path.stat().st_mtime_ns
    assert emulation.run_args("arm64", tmp_path / "emulation") == args
    assert path.stat().st_mtime_ns == before
    assert emulation.run_args("amd64", tmp_path / "emulation") == []


@pytest.mark.slow
@pytest.mark.skipif(host_arch() == "arm64" or not emulation_available("arm64"), reason="needs qemu-aarch64")
def test_onnxruntime_runs_a_model_in_an_arm64_container_under_emulation(tmp_path):
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["z"])], "add",
        [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [2]) for name in ("x", "y")],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "model").mkdir()
    onnx.save(model, str(tmp_path / "model" / "add.onnx"))
    lock = REPO / "modelkit" / "environments" / "onnx" / "requirements.lock"
    installed = deps.install(lock, "arm64", tmp_path / "deps")
    program = ("import platform, numpy, onnxruntime as ort; "
               "s = ort.InferenceSession('/m/add.onnx', providers=['CPUExecutionProvider']); "
               "x = numpy.array([1.5, 2.0], dtype=numpy.float32); "
               "print(platform.machine(), s.run(None, {'x': x, 'y': x})[0].tolist())")
    eng = engine()
    command = [eng.binary, "run", "--rm", "--platform", "linux/arm64",
               *emulation.run_args("arm64", tmp_path / "emulation"),
               "-v", f"{installed}:/opt/deps:ro", "-v", f"{tmp_path / 'model'}:/m:ro", "-e", "PYTHONPATH=/opt/deps",
               base_ref("arm64"), "python3", "-c", program]
    done = subprocess.run(command, env=eng.env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "aarch64 [3.0, 4.0]"
