"""The factory run end to end, through devhost on the real local stack (slow: real training, image builds,
edge containers). Each test asserts on outcomes: runs, model versions, images in the registries."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from cli import main as cli
from cli.client import post_link
from contract import STAGES, RolloutResult, RolloutStatus
from factory import events
from factory.adapters.local.fleet_store import LocalFleet
from factory.approval import ApprovalClaim, sign_link
from factory.catalog import load_model_spec
from factory.decision import UNAUTHENTICATED
from factory.edge.manifest import module_name
from factory.supplychain.chain import verify
from factory.supplychain.cosign import attestation_tag, signature_tag
from factory.supplychain.oci import Registry
from tests.e2e.conftest import ALL_MODELS_TIMEOUT_S, REPOSITORY_MODELS
from tests.e2e.helpers import (
    IMPATIENT_APPROVAL_HOURS,
    STAGES_WITHOUT_ROLLOUT,
    approval_links,
    approve,
    dev_registry,
    model_versions,
    prod_registry,
    registry_digest,
    registry_tags,
    sample,
    wait_for_stage,
)

pytestmark = pytest.mark.slow


def _repo(model: str) -> str:
    from factory.catalog import load_model_spec

    return load_model_spec(pytest.stack.models_dir / model).image.repository  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _expose_stack(stack):
    pytest.stack = stack  # for _repo


@pytest.mark.timeout(2 * ALL_MODELS_TIMEOUT_S)  # the approvals' wait, then the promotions' (pyproject: 900 s)
def test_happy_path_every_model_ends_in_prod_under_the_edge_tested_digest(stack, every_model_run):
    assert [status for _, _, status in every_model_run.values()] == [200] * len(REPOSITORY_MODELS)
    public_key = stack.signing_key_paths()[1].read_bytes()
    for model, (run_id, run, _) in every_model_run.items():
        lineage = run["lineage"]
        assert run["result"] == "Succeeded", (model, run["reason"])
        assert lineage["edge"]["status"] == "pass"
        # no App Service Authentication locally: the principal header the test sent is not trusted
        assert lineage["decision"] == "approve" and lineage["approver"] == UNAUTHENTICATED
        if load_model_spec(stack.models_dir / model).rollout is None:
            assert set(lineage["stage_seconds"]) == set(STAGES_WITHOUT_ROLLOUT)
        else:  # through every ring to the whole local fleet, as its devices report it
            assert set(lineage["stage_seconds"]) == set(STAGES), model
            rollout = RolloutResult.from_dict(lineage["rollout"])
            assert rollout.status is RolloutStatus.COMPLETED, (model, rollout.reason)
            assert [(r.targeted, r.applied) for r in rollout.rings] == [(2, 2), (2, 2)], rollout.rings
            reports = LocalFleet.from_settings(stack).device_reports("tags.site = 'local'", module_name(model))
            assert sorted(r.version for r in reports) == [lineage["model_version"]] * 4
            assert all(r.signals[lineage["model_version"]].requests > 0 for r in reports)
        prod_digest = registry_digest(prod_registry(stack), _repo(model), f"v{lineage['model_version']}")
        assert prod_digest == lineage["image_digest"], model
        assert lineage["prod_ref"].endswith(lineage["image_digest"]) or lineage["image_digest"] in lineage["prod_ref"]
        assert len(model_versions(stack, model, run_id)) == 1
        # the prod image carries its whole signed chain: signature, provenance, verification, SBOM, approval
        chain = verify(f"{prod_registry(stack)}/{_repo(model)}:v{lineage['model_version']}", public_key, Registry)
        assert chain.ok and chain.digest == lineage["image_digest"], (model, chain.broken)


def test_same_blob_created_event_three_times_starts_one_run(stack, client, wine_copy_triple_run, capsys):
    model = "wine_copy"
    run_id, run, code, printed = wine_copy_triple_run
    assert code == 0 and "HTTP 200 Decision recorded: approve for wine_copy" in printed, printed
    assert run["result"] == "Succeeded", run["reason"]
    # runs started by blob events (``run --changed`` may retrain on the same upload: a manual run, ``<model>-m…``)
    from_events = [r for r in client.runs() if r["run_id"].startswith(f"{model}-")
                   and not r["run_id"].startswith(f"{model}-m")]
    assert len(from_events) == 1
    assert len(model_versions(stack, model, run_id)) == 1
    digest = run["lineage"]["image_digest"]  # one image, with its signature and attestations beside it
    tags = registry_tags(dev_registry(stack), _repo(model))
    assert {run_id, signature_tag(digest), attestation_tag(digest)} <= set(tags)
    assert cli.main(["verify", "--state-dir", str(stack.state_dir), run["lineage"]["prod_ref"]]) == 0
    printed = capsys.readouterr().out
    assert "BROKEN" not in printed and f"data sha256 {run['lineage']['data_sha256']}" in printed, printed


FAILURES = {
    # model: (what is uploaded, result, stage, words in the reason)
    "wine_broken_train": ("sample", "Failed", "train", "synthetic failure"),
    "wine_strict_gate": ("sample", "Rejected", "gate", "f1_macro"),
    "wine_serving_drift": ("sample", "Rejected", "gate", "package scikit-learn"),
    "wine_bad_expected": ("sample", "Rejected", "package", "verification"),
    "wine_slow_training": ("sample", "Failed", "train", "within 1 s"),
    "wine_edge_too_slow": ("sample", "Rejected", "edge", "over the budget"),
    # a model of its own: wine_copy's latest upload must stay a good one (test_run_changed_… retrains on it)
    "wine_beside_broken": ("bad", "Rejected", "validate", "column"),
}


def test_each_failure_ends_the_run_at_its_stage_with_a_reason_and_promotes_nothing(stack, client, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,only_one_column\n2026-01-01T00:00:00,1\n")
    runs = {}
    prod_before = {model: registry_tags(prod_registry(stack), _repo(model)) for model in FAILURES}
    for model, (data, *_rest) in FAILURES.items():
        runs[model] = stack.upload(model, bad if data == "bad" else sample(stack, model))[2]
    for model, run_id in runs.items():
        _, result, stage, words = FAILURES[model]
        run = client.wait(run_id, timeout=900)
        assert (run["result"], run["ended_at_stage"]) == (result, stage), (model, run["reason"])
        assert words in (run["reason"] or ""), (model, run["reason"])
        assert registry_tags(prod_registry(stack), _repo(model)) == prod_before[model], model


def _bad_annotations(sample_path, dest):
    """shapes_detector's sample with line 1 naming a missing image and line 2 a box outside [0, 1]."""
    import io
    import tarfile

    with tarfile.open(sample_path, "r:gz") as good, tarfile.open(dest, "w:gz") as bad:
        for member in good.getmembers():
            data = good.extractfile(member).read()
            if member.name == "annotations.jsonl":
                lines = [json.loads(line) for line in data.decode().splitlines()]
                lines[0]["image_url"] = "images/no-such.jpg"
                lines[1]["label"][0]["bottomX"] = 1.5
                data = "".join(json.dumps(line) + "\n" for line in lines).encode()
                member.size = len(data)
            bad.addfile(member, io.BytesIO(data))
    return dest


def test_a_hostile_image_archive_is_refused_at_validate_naming_its_member(stack, client, tmp_path):
    """One e2e upload of a bad archive (zip-slip member) and one of bad detection annotations; the unit tests
    cover every other bad kind."""
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf, zipfile.ZipFile(sample(stack, "digits")) as good:
        for info in good.infolist()[:300]:
            zf.writestr(info.filename, good.read(info))
        zf.writestr("../../escape.png", good.read(good.infolist()[0]))
    run_id = stack.upload("digits", evil)[2]
    boxes_id = stack.upload("shapes_detector", _bad_annotations(sample(stack, "shapes_detector"),
                                                                tmp_path / "bad-boxes.tar.gz"))[2]
    run = client.wait(run_id, timeout=600)
    assert (run["result"], run["ended_at_stage"]) == ("Rejected", "validate"), run["reason"]
    assert "member '../../escape.png'" in run["reason"] and "zip-slip" in run["reason"]
    assert not list(tmp_path.parent.glob("escape.png")) and len(model_versions(stack, "digits", run_id)) == 0
    run = client.wait(boxes_id, timeout=600)
    assert (run["result"], run["ended_at_stage"]) == ("Rejected", "validate"), run["reason"]
    assert "annotations.jsonl line 1" in run["reason"] and "'images/no-such.jpg', which is missing" in run["reason"]
    assert "annotations.jsonl line 2 box 0" in run["reason"] and "a box outside the image" in run["reason"]
    assert len(model_versions(stack, "shapes_detector", boxes_id)) == 0


def _link_parts(url: str) -> tuple[str, dict[str, str]]:
    parsed = urllib.parse.urlparse(url)
    return parsed.path, dict(urllib.parse.parse_qsl(parsed.query))


def _with(url: str, **changes: str) -> str:
    path, params = _link_parts(url)
    params.update(changes)
    return url.split("?")[0] + "?" + urllib.parse.urlencode(params)


def test_bad_approval_links_decide_nothing_and_the_models_approval_timeout_then_rejects(stack, client, capsys):
    """One run waiting for a decision nobody makes: bad links and forged decision events are refused while it
    waits; its model's own timeout (model.yaml approval.timeout_hours, well under the app's) then rejects it, and
    every link is gone. A link that does decide, with a spoofed identity header: tests/e2e/test_browser.py."""
    model = "wine_impatient_approval"
    run_id = stack.upload(model, sample(stack, model), name="nobody-decides.csv")[2]
    links = approval_links(client, run_id)
    expires_at = datetime.fromisoformat(client.run(run_id)["approval"]["expires_at"])
    left = expires_at.replace(tzinfo=expires_at.tzinfo or UTC) - datetime.now(UTC)
    assert timedelta(0) < left <= timedelta(hours=IMPATIENT_APPROVAL_HOURS)  # the model's timeout, not the app's
    key = stack.settings_env()["APPROVAL_SIGNING_KEY"]
    _, params = _link_parts(links["approve"])
    # GET only shows the confirmation page
    status, page = post_link(links["approve"], method="GET")
    assert status == 200 and "<form method='post'" in page
    # tampered, other run, expired: refused, nothing decided
    assert post_link(_with(links["approve"], v="999"))[0] == 403
    assert post_link(links["approve"].replace(urllib.parse.quote(run_id), f"{model}-0000"))[0] == 403
    expired = sign_link(stack.base_url, key, ApprovalClaim(run_id, "approve", params["v"], params["d"],
                                                           int(time.time()) - 5))
    assert post_link(expired)[0] == 410
    assert (client.run(run_id)["approval"]["runtime_status"]) == "Running"
    # the decision event raised straight through the Durable HTTP API, with each key devhost has (and none):
    # the run checks the signed claim itself and keeps waiting
    forged = [{"decision": "approve", "approver": "mallory", "version": params["v"], "digest": params["d"]},
              {"decision": "approve", "approver": "mallory", "request_id": "r", "attestation": "0" * 64,
               "link": {"run_id": run_id, "decision": "approve", **params}}]
    keys = [None, stack.function_key, (stack.state_dir / "devhost" / "durabletask_extension.key").read_text().strip()]
    url = f"{stack.base_url}/runtime/webhooks/durabletask/instances/{run_id}-approval/raiseEvent/ApprovalDecision"
    for key in keys:
        for event in forged:
            req = urllib.request.Request(url + (f"?code={key}" if key else ""), data=json.dumps(event).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
            with contextlib.suppress(urllib.error.HTTPError):  # a devhost that wants a key may answer 401
                urllib.request.urlopen(req, timeout=10).close()
    time.sleep(3)
    approval = client.run(run_id)["approval"]
    assert approval["runtime_status"] == "Running" and approval["stage"] == "waiting for approval"
    assert len(approval["refused"]) >= 2 * len([k for k in keys if k])
    # nobody decides: the model's timeout rejects; afterwards every link is gone
    run = client.wait(run_id, timeout=600)
    assert run["result"] == "Rejected" and "timeout" in run["reason"]
    assert len(run["lineage"]["approval_refused"]) == len(approval["refused"])
    assert post_link(links["approve"])[0] == 410 and post_link(links["reject"])[0] == 410
    assert cli.main(["approve", "--state-dir", str(stack.state_dir), run_id]) == 1
    assert f"the approval of run {run_id} is already closed (timeout)" in capsys.readouterr().err
    assert registry_tags(prod_registry(stack), _repo(model)) == []


def test_devhost_killed_during_training_then_restarted_completes_with_one_version_and_one_image(stack, client):
    model = "nyc_taxi"
    run_id = stack.upload(model, sample(stack, model), name="crash.csv")[2]
    wait_for_stage(client, run_id, {"train"})
    stack.kill("devhost")
    time.sleep(1)
    devhost = next(s for s in stack.services() if s.name == "devhost")
    stack.start(devhost)
    assert approve(client, run_id) == 200
    run = client.wait(run_id, timeout=900)
    assert run["result"] == "Succeeded", run["reason"]
    assert len(model_versions(stack, model, run_id)) == 1
    assert run_id in registry_tags(dev_registry(stack), _repo(model))
    assert json.dumps(run["lineage"]).count(run["lineage"]["image_digest"]) >= 1


def test_manual_run_is_idempotent_by_key_and_bad_requests_say_what_is_wrong(stack, client, tmp_path):
    bad = tmp_path / "manual-bad.csv"
    bad.write_text("alcohol,malic_acid\n1,2\n")
    stack.upload("wine_cultivar", bad, name="manual-bad.csv")  # data comes only from the watched container
    first = client.start_run("wine_cultivar", "wine_cultivar/manual-bad.csv", idempotency_key="manual-key-1")
    second = client.start_run("wine_cultivar", "wine_cultivar/manual-bad.csv", idempotency_key="manual-key-1")
    assert first[0] == second[0] == 202
    assert first[1]["id"] == second[1]["id"]
    run = client.wait(first[1]["id"], timeout=120)
    assert (run["result"], run["ended_at_stage"]) == ("Rejected", "validate")
    assert "manual-bad.csv" in run["reason"]
    assert len([r for r in client.runs() if r["run_id"] == first[1]["id"]]) == 1
    status, body = client.start_run("wine_cultivar", str(bad))  # a local path: refused, nothing read
    assert status == 400 and "container 'incoming'" in body["error"]
    status, body = client.start_run("no_such_model", "no_such_model/x.csv")
    assert status == 400 and "field 'model'" in body["error"]
    status, body = client._call("POST", "/api/runs", {"model": "wine_cultivar"})
    assert status == 400 and "field 'data'" in body["error"]
    assert client._call("POST", "/api/runs", {"model": "wine_cultivar", "data": "wine_cultivar/manual-bad.csv"},
                        headers={"x-functions-key": "wrong"})[0] == 401


def test_blobs_outside_known_models_or_not_csv_and_events_nobody_waits_for_start_nothing(stack, client, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    before = {r["run_id"] for r in client.runs()}
    stack.upload("not_a_model", csv)
    stack.upload("wine_cultivar", csv, name="notes.txt")
    endpoint = stack.settings_env()["FACTORY_EVENTGRID_ENDPOINT"]
    events.publish([events.model_registered("ws", "wine_cultivar", 9, {"run_id": "wine_cultivar-nobody"}),
                    events.image_pushed("dev", "127.0.0.1", "models/x", "no-such-run", "sha256:00", 1),
                    events.run_status_changed("ws", "x", "job", "Failed", {"run_id": "no-such-run"})], endpoint,
                   key=stack.eventgrid_key)
    time.sleep(8)  # the watcher polls every second; devhost delivers asynchronously
    assert {r["run_id"] for r in client.runs()} == before
    dead_letters = stack.state_dir / "devhost" / "eventgrid-deadletter.jsonl"
    assert not dead_letters.exists() or dead_letters.read_text().strip() == ""
