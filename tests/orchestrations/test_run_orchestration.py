"""The real run and approval orchestrators through devhost, with scripted activities (tests/orchestrations/app):
every ending of a run, its stage and reason, and what it waits for. Fast: no training, no containers."""

from __future__ import annotations

import json
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from contract import RunRequest
from devhost.server import launch
from factory.approval import approval_links, sig_digest
from orchestrations.retrying import RetryPlan, carry

APP = Path(__file__).parent / "app"
DIGEST = "sha256:" + "cd" * 32
SIGNING_KEY = "k" * 48


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("orch")
    # WEBSITE_AUTH_ENABLED: the test plays App Service Authentication, which sets the principal header
    running = launch(app_dir=APP, app_module="run_test_app", state_dir=tmp / "state", workers=4,
                     log_file=tmp / "devhost.log", env={"APPROVAL_SIGNING_KEY": SIGNING_KEY,
                                                        "WEBSITE_AUTH_ENABLED": "True"})
    yield running
    running.stop()


class Durable:
    def __init__(self, base_url: str, keys) -> None:
        self.base_url = base_url
        self.api = f"{base_url}/runtime/webhooks/durabletask"
        self.http = requests.Session()  # the Durable API takes devhost's durabletask_extension key
        self.http.headers["x-functions-key"] = keys.system_key
        self.keys = {"master": keys.master_key, "durabletask_extension": keys.system_key}

    def start(self, model: str) -> str:
        run_id = f"{model}-{time.monotonic_ns()}"
        run = RunRequest(run_id=run_id, model=model, data_uri=f"http://blob/incoming/{model}/a.csv")
        resp = self.http.post(f"{self.api}/orchestrators/model_factory_run/{run_id}", json=run.to_dict(), timeout=10)
        assert resp.status_code == 202, resp.text
        return run_id

    def status(self, instance_id: str) -> dict:
        resp = self.http.get(f"{self.api}/instances/{instance_id}", timeout=10)
        return {} if resp.status_code == 404 else resp.json()

    def raise_event(self, instance_id: str, name: str, data: object, key: str | None = None) -> requests.Response:
        headers = {"Content-Type": "application/json"}  # as the host, the API takes JSON content only (null too)
        if key is not None:
            headers["x-functions-key"] = key
        resp = self.http.post(f"{self.api}/instances/{instance_id}/raiseEvent/{name}", data=json.dumps(data),
                              headers=headers, timeout=10)
        assert resp.status_code == 202, resp.text
        return resp

    def wait_stage(self, instance_id: str, stage: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(instance_id)
            custom = status.get("customStatus")
            if isinstance(custom, dict) and custom.get("stage") == stage:
                return status
            time.sleep(0.05)
        raise TimeoutError(f"{instance_id} never reached {stage}: {self.status(instance_id)}")

    def result(self, instance_id: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(instance_id)
            if status.get("runtimeStatus") in ("Completed", "Failed", "Terminated"):
                assert status["runtimeStatus"] == "Completed", status
                return status["output"]
            time.sleep(0.05)
        raise TimeoutError(f"{instance_id} did not end: {self.status(instance_id)}")


@pytest.fixture
def durable(host) -> Durable:
    return Durable(host.base_url, host.keys)


def _registered(durable: Durable, run_id: str, version: str = "7") -> None:
    durable.wait_stage(run_id, "train")
    durable.raise_event(run_id, "ModelRegistered", {"name": "m", "version": version, "tags": {"run_id": run_id}})


def _pushed(durable: Durable, run_id: str) -> None:
    durable.wait_stage(run_id, "package")
    durable.raise_event(run_id, "ImagePushed", {"repository": "r", "tag": run_id, "digest": DIGEST})


def _links(durable: Durable, run_id: str, version: str = "7", digest: str = DIGEST,
           expires_at: int | None = None) -> dict[str, str]:
    """The run's signed links (as the request_approval step signs them), once it waits for approval."""
    status = durable.wait_stage(f"{run_id}-approval", "waiting for approval")
    exp = status["customStatus"]["expires_at_unix"] if expires_at is None else expires_at
    return approval_links(durable.base_url, SIGNING_KEY, run_id, version, digest, exp)


def _decide(durable: Durable, run_id: str, decision: str, approver: str) -> requests.Response:
    """Wait until the run asks for approval, then click its signed link as ``approver``."""
    return requests.post(_links(durable, run_id)[decision], headers={"x-ms-client-principal-name": approver},
                         timeout=60)


def test_a_reject_reason_from_the_page_form_is_kept_in_the_lineage_cleaned_and_bounded(durable):
    run_id = durable.start("happy")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    resp = requests.post(_links(durable, run_id)["reject"], timeout=60, headers={"x-ms-client-principal-name": "bob"},
                         data={"reason": "  drift\x1b[31m in <proline>" + "x" * 600})
    assert resp.status_code == 200, resp.text
    result = durable.result(run_id)
    reason = result["lineage"]["decision_reason"]
    assert reason.startswith("drift [31m in <proline>xx") and len(reason) == 500
    assert result["reason"] == f"approval: rejected ({reason})"


def test_happy_path_walks_every_stage_and_records_the_lineage(durable):
    run_id = durable.start("happy")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    durable.wait_stage(run_id, "approval")
    _decide(durable, run_id, "approve", "alice")
    result = durable.result(run_id)
    lineage = result["lineage"]
    assert lineage["approval_refused"] == []
    assert (result["status"], result["stage"]) == ("Succeeded", "promote")
    assert (lineage["model_version"], lineage["image_digest"], lineage["approver"]) == ("7", DIGEST, "alice")
    assert lineage["prod_ref"].endswith(DIGEST) and lineage["edge"]["status"] == "pass"
    assert lineage["precision"] == "fp16"  # the gate's verdict carries the kept precision into the record
    assert set(lineage["stage_seconds"]) == {"validate", "train", "gate", "package", "edge", "approval", "promote"}


def test_events_that_arrive_before_the_run_waits_are_kept(durable):
    run_id = durable.start("happy")
    durable.raise_event(run_id, "ImagePushed", {"repository": "r", "tag": run_id, "digest": DIGEST})
    _registered(durable, run_id)
    durable.wait_stage(run_id, "approval")
    _decide(durable, run_id, "reject", "bob")
    result = durable.result(run_id)
    assert (result["status"], result["stage"], result["reason"]) == ("Rejected", "approval", "approval: rejected")


def _forged_decisions(durable: Durable, run_id: str) -> list[object]:
    """Decision events from someone who can raise Durable events but holds no valid link for this approval."""
    good = _links(durable, run_id)["approve"]
    params = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(good).query).items()}
    link = {"run_id": run_id, "decision": "approve", **params}
    other_version = approval_links(durable.base_url, SIGNING_KEY, run_id, "8", DIGEST, int(params["exp"]))["approve"]
    expired = approval_links(durable.base_url, SIGNING_KEY, run_id, "7", DIGEST, int(time.time()) - 5)["approve"]
    other_run = approval_links(durable.base_url, SIGNING_KEY, "happy-0", "7", DIGEST, int(params["exp"]))["approve"]
    as_link = lambda url, run=run_id: {"run_id": run, "decision": "approve", **{  # noqa: E731
        k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}}
    old = {"decision": "approve", "approver": "mallory", "version": "7", "digest": DIGEST}
    return [
        old,  # the unsigned shape the run used to trust
        "approve", None, [], {"decision": "approve", "link": "x", "request_id": "r", "approver": "m"},
        {**old, "request_id": "r1", "link": {**link, "sig": "0" * 64}, "attestation": "0" * 64},  # forged signature
        {**old, "request_id": "r2", "link": as_link(other_version), "attestation": "0" * 64},  # another version
        {**old, "request_id": "r3", "link": as_link(expired), "attestation": "0" * 64},  # expired
        {**old, "request_id": "r4", "link": as_link(other_run, "happy-0"), "attestation": "0" * 64},  # another run
        # a valid link raised directly, without the endpoint's attestation of the approver
        {**old, "request_id": "r5", "link": link, "attestation": "0" * 64},
        {**old, "request_id": "r6", "link": link},
    ]


@pytest.mark.parametrize("key", ["master", "durabletask_extension"])
def test_decision_events_raised_with_any_key_but_no_valid_link_leave_the_run_waiting(durable, key):
    run_id = durable.start("happy")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    forged = _forged_decisions(durable, run_id)
    keyless = requests.post(f"{durable.api}/instances/{run_id}-approval/raiseEvent/ApprovalDecision", json=forged[0],
                            timeout=10)
    assert keyless.status_code == 401  # devhost: no key, no Durable API
    for event in forged:
        durable.raise_event(f"{run_id}-approval", "ApprovalDecision", event, key=durable.keys[key])
    deadline = time.monotonic() + 20
    while len((durable.status(f"{run_id}-approval")["customStatus"] or {}).get("refused", [])) < len(forged):
        assert time.monotonic() < deadline, durable.status(f"{run_id}-approval")
        time.sleep(0.1)
    approval = durable.status(f"{run_id}-approval")
    assert approval["runtimeStatus"] == "Running"
    assert approval["customStatus"]["stage"] == "waiting for approval"
    assert durable.status(run_id)["customStatus"]["stage"] == "approval"
    reasons = [r["reason"] for r in approval["customStatus"]["refused"]]
    assert sorted(set(reasons)) == [
        "the approver is not attested by the approval endpoint", "the decision carries no signed link",
        "the decision is not an object", "the link is for another model version or image",
        "the link is for another run", "the link was refused: this approval link has expired",
        "the link was refused: this approval link's signature is not valid (altered, or for another run)"]
    assert len(reasons) == len(forged) and reasons.count("the approver is not attested by the approval endpoint") == 2
    # who tried: the name each event claims, recorded as a claim (none of them came through the endpoint)
    who = [(r["approver"], r["attested"], r["decision"]) for r in approval["customStatus"]["refused"]]
    assert who.count(("mallory", False, "approve")) == 7 and who.count(("", False, "")) == 3
    assert who.count(("m", False, "approve")) == 1
    # the real link still decides, and the lineage keeps every refused attempt
    assert _decide(durable, run_id, "approve", "alice@example.com").status_code == 200
    result = durable.result(run_id)
    assert (result["status"], result["lineage"]["approver"]) == ("Succeeded", "alice@example.com")
    assert len(result["lineage"]["approval_refused"]) == len(forged)


def test_a_model_with_approvers_refuses_anyone_else_and_decides_nothing(durable):
    run_id = durable.start("guarded")  # model.yaml approval.approvers: [alice@example.com]
    _registered(durable, run_id)
    _pushed(durable, run_id)
    links = _links(durable, run_id)
    for who in ({"x-ms-client-principal-name": "mallory@example.com"}, {}):
        answer = requests.post(links["approve"], headers=who, timeout=30, allow_redirects=False)
        assert answer.status_code in (403, 302), answer.text  # 302: to the sign-in page first
    assert durable.status(f"{run_id}-approval")["runtimeStatus"] == "Running"
    assert _decide(durable, run_id, "reject", "alice@example.com").status_code == 200
    assert durable.result(run_id)["lineage"]["approver"] == "alice@example.com"


@pytest.mark.parametrize("model,status,stage,words", [
    ("bad_data", "Rejected", "validate", 'column "x"'),
    ("gate", "Rejected", "gate", "rmse 9 is above the maximum 6"),
    ("verify", "Rejected", "package", "image verification failed: expected 1, got 2"),
    ("boom", "Failed", "package", "package failed: Activity function 'build_image' failed: RuntimeError: dev "
                                  "registry unreachable (attempt 3)"),
    ("edge_fail", "Rejected", "edge", "expected 1, got 2"),
    ("edge_slow", "Rejected", "edge", "over the budget of 1 ms"),
])
def test_each_failing_stage_ends_the_run_there_with_its_reason_and_never_promotes(durable, model, status, stage,
                                                                                 words):
    run_id = durable.start(model)
    if stage != "validate":
        _registered(durable, run_id)
    if stage in ("package", "edge") and model not in ("verify", "boom"):
        _pushed(durable, run_id)
    result = durable.result(run_id)
    assert (result["status"], result["stage"]) == (status, stage), result
    assert words in result["reason"]
    assert result["lineage"]["prod_ref"] == "" and result["lineage"]["decision"] is None


def test_training_failure_and_training_timeout_fail_the_train_stage(durable):
    failed = durable.start("happy")
    durable.wait_stage(failed, "train")
    durable.raise_event(failed, "TrainingFailed", {"status": "Failed", "error": "step train exited with 1"})
    timed_out = durable.start("train_timeout")
    assert durable.result(failed)["reason"] == "training failed: step train exited with 1"
    result = durable.result(timed_out)
    assert (result["status"], result["stage"]) == ("Failed", "train")
    assert "within 2 s" in result["reason"]


def test_two_simultaneous_approve_clicks_one_is_recorded_the_other_is_told_it_is_closed(durable):
    run_id = durable.start("happy")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    durable.wait_stage(f"{run_id}-approval", "waiting for approval")
    links = _links(durable, run_id)
    preview = requests.get(links["approve"], headers={"x-ms-client-principal-name": "alice@example.com"}, timeout=30)
    assert preview.status_code == 200 and "<form method='post'" in preview.text, preview.text
    clicks = [(links["approve"], "alice@example.com"), (links["reject"], "bob@example.com")]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda c: requests.post(c[0], headers={"x-ms-client-principal-name": c[1]},
                                                        timeout=60), clicks))
    assert sorted(a.status_code for a in answers) == [200, 410], [a.text for a in answers]
    winner = next(c[1] for c, a in zip(clicks, answers, strict=True) if a.status_code == 200)
    loser = next(a for a in answers if a.status_code == 410)
    assert "already closed" in loser.text and winner in loser.text
    result = durable.result(run_id)
    assert result["lineage"]["approver"] == winner
    assert result["status"] == ("Succeeded" if winner == "alice@example.com" else "Rejected")
    assert requests.post(links["approve"], timeout=30).status_code == 410


def test_an_activity_that_fails_transiently_is_retried_and_the_run_goes_on(durable):
    run_id = durable.start("flaky")  # build_image raises on its first two attempts
    _registered(durable, run_id)
    _pushed(durable, run_id)
    _decide(durable, run_id, "approve", "alice")
    result = durable.result(run_id)
    assert (result["status"], result["lineage"]["image_digest"]) == ("Succeeded", DIGEST)


@pytest.mark.parametrize(("model", "status"), [("rollout_ok", "Succeeded"), ("rollout_arm64_crash", "RolledBack")])
def test_a_model_with_a_rollout_goes_on_to_the_fleet_after_promote(durable, model, status):
    """The real fleet_rollout sub-orchestration after promote, on a simulated fleet of 12 devices (a third arm64):
    a healthy version reaches every device; one that crashes on arm64 is stopped and the run ends RolledBack."""
    run_id = durable.start(model)
    _registered(durable, run_id)
    _pushed(durable, run_id)
    _decide(durable, run_id, "approve", "alice")
    result = durable.result(run_id)
    assert (result["status"], result["stage"]) == (status, "rollout")
    rollout = result["lineage"]["rollout"]
    assert rollout["version"] == "7" and rollout["previous_version"] == "1"
    assert result["lineage"]["rollout_plan"] == "fleet tags.site = 'a': canary 30 %, all 100 %"  # on the card
    if status == "RolledBack":
        assert "ring canary: failed_percent" in result["reason"] and "(arm64): module backoff" in result["reason"]
        assert [r["ring"] for r in rollout["rings"]] == ["canary"]
        assert rollout["rolled_back_devices"] == rollout["rings"][0]["targeted"] > 0  # all back on version 1
    else:
        assert [r["ring"] for r in rollout["rings"]] == ["canary", "all"]
        assert sum(r["applied"] for r in rollout["rings"]) == 12  # every device runs and reports version 7


def test_a_rollout_whose_fleet_keeps_failing_deletes_its_configurations_and_fails_the_run(durable):
    run_id = durable.start("rollout_broken")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    _decide(durable, run_id, "approve", "alice")
    result = durable.result(run_id, timeout=60)  # the judge activity is tried as the run's retry plan says (3 x)
    assert (result["status"], result["stage"]) == ("Failed", "rollout")
    assert "the rollout broke" in result["reason"] and "IoT Hub answered 503" in result["reason"]
    assert "configurations were deleted" in result["reason"]


def test_rollout_links_pause_and_abort_a_rollout_and_a_tampered_or_expired_link_is_refused(durable):
    """The signed control links through the real endpoint: a GET only confirms, a tampered or expired link is
    refused; pause, then abort while paused, and the run ends RolledBack naming the abort."""
    from factory.rollout.links import control_links

    run_id = durable.start("rollout_control")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    _decide(durable, run_id, "approve", "alice")
    durable.wait_stage(run_id, "rollout")
    deadline = time.monotonic() + 20
    while durable.status(f"{run_id}-rollout").get("customStatus", {}).get("step") != "baking":
        assert time.monotonic() < deadline, durable.status(f"{run_id}-rollout")
        time.sleep(0.05)
    from cli.client import FactoryClient

    admin = FactoryClient(durable.base_url, durable.keys["master"])
    links = admin.rollout_links(run_id)  # the admin route hands out the links (as `model-factory rollout` uses)
    assert links is not None and set(links) == {"pause", "resume", "abort"}
    assert admin.rollout_links("no-such-run") is None
    assert requests.post(links["abort"].replace("sig=", "sig=0"), timeout=10).status_code == 403
    expired = control_links(durable.base_url, SIGNING_KEY, run_id, int(time.time()) - 1)
    assert requests.post(expired["abort"], timeout=10).status_code == 410
    assert requests.get(links["pause"], timeout=10).status_code == 200  # a confirmation page: nothing happens
    assert durable.status(f"{run_id}-rollout")["customStatus"]["step"] == "baking"
    assert requests.post(links["pause"], timeout=10).status_code == 202
    deadline = time.monotonic() + 20
    while durable.status(f"{run_id}-rollout")["customStatus"]["step"] != "paused":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert requests.post(links["abort"], timeout=10).status_code == 202
    result = durable.result(run_id)
    assert (result["status"], result["stage"]) == ("RolledBack", "rollout")
    assert "aborted by unauthenticated link holder while paused" in result["reason"]
def _start_with_retry(durable: Durable, model: str, attempts: int, interval_ms: int) -> str:
    """A run started as the app's starter starts it: its input carries the settings' retry plan."""
    run_id = f"{model}-{time.monotonic_ns()}"
    run = RunRequest(run_id=run_id, model=model, data_uri=f"http://blob/incoming/{model}/a.csv")
    resp = durable.http.post(f"{durable.api}/orchestrators/model_factory_run/{run_id}",
                             json=carry(run.to_dict(), RetryPlan(attempts, interval_ms)), timeout=10)
    assert resp.status_code == 202, resp.text
    return run_id


def test_plan_run_is_retried_as_the_settings_plan_carried_in_the_input_says(durable):
    retried = _start_with_retry(durable, "flaky_plan", attempts=3, interval_ms=100)  # fails twice, then plans
    _registered(durable, retried)
    _pushed(durable, retried)
    _decide(durable, retried, "approve", "alice")
    assert durable.result(retried)["status"] == "Succeeded"
    too_few = _start_with_retry(durable, "flaky_plan", attempts=2, interval_ms=100)  # the plan allows only two
    result = durable.result(too_few)
    assert (result["status"], result["stage"]) == ("Failed", "validate")
    assert "plan_run" in result["reason"] and "attempt 2" in result["reason"]


def test_a_notifier_503_twice_does_not_end_the_run_and_one_that_stays_down_fails_it_clearly(durable):
    run_id = durable.start("flaky_notify")  # request_approval raises on its first two attempts (of 3)
    _registered(durable, run_id)
    _pushed(durable, run_id)
    assert _decide(durable, run_id, "approve", "alice").status_code == 200
    assert durable.result(run_id)["status"] == "Succeeded"
    down = durable.start("down_notify")
    _registered(durable, down)
    _pushed(durable, down)
    result = durable.result(down)
    assert (result["status"], result["stage"]) == ("Failed", "approval")
    assert "request_approval" in result["reason"] and "503" in result["reason"], result["reason"]


def test_a_transient_failure_of_the_approval_check_does_not_end_the_run(durable):
    run_id = durable.start("flaky_verify")  # verify_approval raises on its first attempt
    _registered(durable, run_id)
    _pushed(durable, run_id)
    assert _decide(durable, run_id, "approve", "alice").status_code == 200
    result = durable.result(run_id)
    assert (result["status"], result["lineage"]["approver"]) == ("Succeeded", "alice")


def test_a_used_links_signature_is_kept_in_the_durable_history_only_as_its_hash(durable):
    run_id = durable.start("happy")
    _registered(durable, run_id)
    _pushed(durable, run_id)
    link = _links(durable, run_id)["approve"]
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["sig"][0]
    assert requests.post(link, headers={"x-ms-client-principal-name": "alice"}, timeout=60).status_code == 200
    durable.result(run_id)
    for instance in (run_id, f"{run_id}-approval"):
        resp = durable.http.get(f"{durable.api}/instances/{instance}", timeout=10, params={
            "showHistory": "true", "showHistoryOutput": "true", "showInput": "true"})
        assert resp.status_code == 200 and "historyEvents" in resp.json()
        assert sig not in resp.text, instance
    approval = durable.http.get(f"{durable.api}/instances/{run_id}-approval", timeout=10, params={
        "showHistory": "true", "showHistoryOutput": "true"}).text
    assert sig_digest(sig) in approval  # what the run verified, kept as the hash


def test_a_run_whose_events_never_arrive_asks_the_registries_and_goes_on_saying_so(durable):
    run_id = durable.start("lost_events")  # neither ModelRegistered nor ImagePushed is ever raised
    _decide(durable, run_id, "approve", "alice")
    result = durable.result(run_id)
    lineage = result["lineage"]
    assert (result["status"], lineage["model_version"], lineage["image_digest"]) == ("Succeeded", "7", DIGEST)
    assert [note.split(":")[0] for note in lineage["reconciled"]] == ["ModelRegistered", "ImagePushed"]
    assert "version 7 found in the model registry" in lineage["reconciled"][0] and DIGEST in lineage["reconciled"][1]


def test_a_registry_that_cannot_be_asked_does_not_end_the_run_and_the_late_event_still_counts(durable):
    run_id = durable.start("ask_fails")  # every ask fails after its retries
    durable.wait_stage(run_id, "train")
    time.sleep(2.5)  # past the first asks (every 1 s)
    _registered(durable, run_id)
    durable.wait_stage(run_id, "package")
    time.sleep(2.5)
    _pushed(durable, run_id)
    _decide(durable, run_id, "approve", "alice")
    result = durable.result(run_id)
    assert (result["status"], result["lineage"]["reconciled"]) == ("Succeeded", [])
