"""Local registries: push notifications become ImagePushed events; promotion copies by digest."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from factory import ports
from factory.adapters.local.host import free_port
from factory.adapters.local.registry import LocalImageRegistry
from factory.settings import Settings
from localstack.registry import pushed_events
from tests.packaging.helpers import REPO, EventReceiver, push_tiny_image


@pytest.fixture()
def stack(registries):
    return registries


def test_tagged_manifest_push_publishes_one_image_pushed_event(stack):
    receiver, dev, _ = stack
    digest = push_tiny_image(dev.registry.address, "models/tiny", "7")
    found = receiver.wait_for(lambda e: e["subject"] == "models/tiny:7")
    assert len(found) == 1
    event = found[0]
    assert event["eventType"] == "Microsoft.ContainerRegistry.ImagePushed"
    target = event["data"]["target"]
    assert (target["repository"], target["tag"], target["digest"]) == ("models/tiny", "7", digest)
    assert event["data"]["action"] == "push"
    assert event["data"]["request"]["host"] == dev.registry.address
    assert event["topic"].endswith("/Microsoft.ContainerRegistry/registries/dev")
    # blob uploads of that push did not produce events
    assert [e["data"]["target"]["mediaType"] for e in receiver.events] == [
        "application/vnd.oci.image.manifest.v1+json"]


def test_push_by_digest_publishes_nothing(stack):
    receiver, dev, _ = stack
    push_tiny_image(dev.registry.address, "models/untagged", None, payload=b"other")
    push_tiny_image(dev.registry.address, "models/marker", "1", payload=b"marker")
    receiver.wait_for(lambda e: e["subject"] == "models/marker:1")
    assert [e["subject"] for e in receiver.events] == ["models/marker:1"]


def test_distribution_envelope_filtering():
    envelope = {"events": [
        {"action": "push", "target": {"mediaType": "application/octet-stream", "digest": "sha256:a",
                                      "repository": "r", "size": 3}},
        {"action": "push", "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                      "digest": "sha256:b", "repository": "r", "size": 9}},
        {"action": "pull", "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                      "digest": "sha256:c", "repository": "r", "tag": "2", "size": 9}},
        {"action": "push", "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                      "digest": "sha256:d", "repository": "r", "tag": "3", "size": 9}},
    ]}
    out = pushed_events(envelope, "dev", "127.0.0.1:1")
    assert [(e["subject"], e["data"]["target"]["digest"]) for e in out] == [("r:3", "sha256:d")]


def test_promotion_keeps_the_digest_and_is_idempotent(stack):
    _, dev, prod = stack
    digest = push_tiny_image(dev.registry.address, "models/tiny", "3", payload=b"promote me")
    registry = LocalImageRegistry.from_settings(Settings.from_env({
        "FACTORY_DEV_REGISTRY": dev.registry.address, "FACTORY_PROD_REGISTRY": prod.address}))
    source = ports.ImageRef(dev.registry.address, "models/tiny", "3")
    assert registry.digest(source) == digest
    promoted = registry.promote(ports.ImageRef(dev.registry.address, "models/tiny", digest=digest), "tiny", "3")
    assert promoted == ports.ImageRef(prod.address, "tiny", "3", digest)
    assert registry.digest(ports.ImageRef(prod.address, "tiny", "3")) == digest
    assert registry.promote(source, "tiny", "3") == promoted  # again: nothing changes
    assert registry.digest(ports.ImageRef(prod.address, "tiny", "missing")) is None


def test_promoting_a_missing_image_says_so(stack):
    _, dev, prod = stack
    registry = LocalImageRegistry(dev=dev.registry.address, prod=prod.address)
    with pytest.raises(LookupError, match="no such image"):
        registry.promote(ports.ImageRef(dev.registry.address, "models/none", "1"), "none", "1")


def test_registry_command_runs_registry_and_bridge_until_sigterm(tmp_path):
    receiver = EventReceiver()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localstack.registry", "--name", "dev", "--port",
                             str(port), "--state-dir", str(tmp_path), "--eventgrid-endpoint", receiver.url],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        digest = push_tiny_image(f"127.0.0.1:{port}", "models/cli", "1")
        [event] = receiver.wait_for(lambda e: e["subject"] == "models/cli:1")
        assert event["data"]["target"]["digest"] == digest
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            raise AssertionError("the registry still answers after SIGTERM")
        except OSError:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
        receiver.stop()
