"""A test Functions app around the REAL run and approval orchestrators and HTTP endpoints, with scripted
activities and a scripted edge_pool_smoke sub-orchestration: which outcome each stage gives is chosen by the run's
model name, so every ending of the run can be driven quickly through devhost without training or containers."""

import azure.durable_functions as df
import azure.functions as func

from contract import DecisionToVerify, RolloutActivity, RunPlan, VersionSignals
from factory.adapters.local.fleet import SimulatedFleet
from factory.adapters.local.fleet_runtime import Outcome, SimulatedRuntime
from factory.edge.manifest import module_name
from factory.rollout.fleet import LABEL_MODEL, LABEL_VERSION, LayeredDeployment, layered_content
from factory.rollout.service import RolloutService
from factory.rollout.spec import AbortBounds, Ring, RolloutSpec
from factory.steps import run_steps
from function_app import approvals, http
from function_app.rollout import handlers
from function_app.rollout import links_bp as rollout_links
from orchestrations.approval import approval
from orchestrations.fleet_rollout import fleet_rollout
from orchestrations.run import model_factory_run

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
DIGEST = "sha256:" + "cd" * 32


def _plan(model: str) -> dict:
    return RunPlan(training_timeout_s=2 if model == "train_timeout" else 60, build_timeout_s=60, edge_poll_s=1,
                   edge_timeout_s=30, approval_timeout_s=6 if model == "approval_timeout" else 60,
                   image_repository=f"models/{model}", key_metric="rmse",
                   edge_max_p95_ms=1.0 if model == "edge_slow" else None,
                   activity_attempts=3, activity_retry_ms=200, reconcile_after_s=1,
                   approvers=["alice@example.com"] if model == "guarded" else [],
                   rollout=model.startswith("rollout_"),
                   rollout_summary="fleet tags.site = 'a': canary 30 %, all 100 %" * model.startswith("rollout_"),
                   ).to_dict()


for orchestrator in (model_factory_run, approval, fleet_rollout):  # the real ones, under their real names
    app.orchestration_trigger(context_name="context")(orchestrator)
app.register_functions(http.bp)  # the real HTTP endpoints: runs
app.register_functions(approvals.bp)  # the real signed approval links
app.register_functions(rollout_links)  # the real signed rollout control links


ATTEMPTS: dict[tuple[str, str], int] = {}  # (activity, run id) -> attempts so far (activities run in devhost)


def _flaky(activity: str, run_id: str, fails: int) -> None:
    """Raise a transient error on the first ``fails`` attempts of ``activity`` for this run."""
    ATTEMPTS[(activity, run_id)] = attempt = ATTEMPTS.get((activity, run_id), 0) + 1
    if attempt <= fails:
        raise ConnectionError(f"{activity}: 503 Service Unavailable (attempt {attempt})")


@app.activity_trigger(input_name="req")
def verify_approval(req: dict) -> dict:  # the real check of every decision event
    if req["request"]["model"] == "flaky_verify":
        _flaky("verify_approval", req["request"]["run_id"], 1)
    return run_steps().verify_approval(DecisionToVerify.from_dict(req)).to_dict()


@app.orchestration_trigger(context_name="context")
def edge_pool_smoke(context):  # the edge stage as the run calls it (scripted)
    req = context.get_input()
    yield context.call_activity("validate_data", {"model": "noop"})
    status = "fail" if req["model"] == "edge_fail" else "pass"
    return {"run_id": req["run_id"], "status": status, "cases": 1, "failures": ["case 1: wrong"] * (status == "fail"),
            "p50_ms": 2.0, "p95_ms": 3.0, "reason": "case 1: expected 1, got 2" if status == "fail" else ""}


@app.activity_trigger(input_name="req")
def plan_run(req: dict) -> dict:
    if req["model"] == "flaky_plan":
        _flaky("plan_run", req["run_id"], 2)
    return _plan(req["model"])


@app.activity_trigger(input_name="req")
def validate_data(req: dict) -> dict:
    if req["model"] == "bad_data":
        return {"ok": False, "etag": "0x1", "size": 10, "errors": ['row 3, column "x": expected a number, got "y"']}
    return {"ok": True, "etag": "0x1", "size": 10, "errors": [], "sha256": "ab" * 32,
            "pinned_uri": f"http://blob/validated/{req.get('run_id')}/a.csv"}


@app.activity_trigger(input_name="req")
def submit_training(req: dict) -> dict:
    return {"job_name": f"job-{req['run_id']}", "status": "Running"}


@app.activity_trigger(input_name="req")
def evaluate_gate(req: dict) -> dict:
    passed = req["model"] != "gate"
    return {"passed": passed, "reasons": [] if passed else ["rmse 9 is above the maximum 6"],
            "champion": None, "metrics": {"rmse": 9.0 if not passed else 3.0, "fp16": 1.0}, "precision": "fp16"}


BUILD_ATTEMPTS: dict[str, int] = {}  # run id -> attempts so far (activities run in the devhost process)


@app.activity_trigger(input_name="req")
def build_image(req: dict) -> dict:
    BUILD_ATTEMPTS[req["run_id"]] = attempt = BUILD_ATTEMPTS.get(req["run_id"], 0) + 1
    if req["model"] == "boom":
        raise RuntimeError(f"dev registry unreachable (attempt {attempt})")
    if req["model"] == "flaky" and attempt < 3:
        raise ConnectionError(f"registry restarting (attempt {attempt})")
    if req["model"] == "verify":
        return {"ok": False, "reason": "expected 1, got 2", "logs": "..."}
    return {"ok": True, "image": f"127.0.0.1:1/{req['repository']}@{DIGEST}", "digest": DIGEST}


@app.activity_trigger(input_name="req")
def request_approval(req: dict) -> dict:
    if req["model"] in ("flaky_notify", "down_notify"):  # a webhook answering 503: twice, or on every attempt
        _flaky("request_approval", req["run_id"], 2 if req["model"] == "flaky_notify" else 99)
    return {"notified": True, "expires_at": req["expires_at"]}


@app.activity_trigger(input_name="req")
def attest_edge(req: dict) -> dict:  # scripted: no registry here (tests/supplychain sign real images)
    return {"image": req["image"], "predicate_type": "https://model-factory.dev/attestations/edge-smoke/v1"}


@app.activity_trigger(input_name="req")
def attest_approval(req: dict) -> dict:  # scripted: no registry here (tests/supplychain sign real images)
    return {"image": req["image"], "predicate_type": "https://model-factory.dev/attestations/approval/v1"}


@app.activity_trigger(input_name="req")
def promote(req: dict) -> dict:
    return {"prod_ref": f"127.0.0.1:2/{req['repository']}:v{req['version']}@{DIGEST}"}


@app.activity_trigger(input_name="req")
def reconcile_model(req: dict) -> dict:  # the model registry, as the run asks it when ModelRegistered is late
    if req["model"] == "ask_fails":
        raise ConnectionError("model registry: 503 Service Unavailable")
    if req["model"] == "lost_events":  # registered, but its event was lost
        return {"found": True, "event": {"name": "m", "version": "7", "tags": {"run_id": req["run_id"]}}}
    return {"found": False}


@app.activity_trigger(input_name="req")
def reconcile_image(req: dict) -> dict:  # the dev registry, as the run asks it when ImagePushed is late
    if req["repository"] == "models/ask_fails":
        raise ConnectionError("dev registry: connection refused")
    if req["repository"] == "models/lost_events":  # pushed, but the bridge died with its registry
        return {"found": True, "event": {"repository": req["repository"], "tag": req["run_id"], "digest": DIGEST}}
    return {"found": False}


# --- the fleet rollout: the real activities on a simulated fleet per model (rollout_ok, rollout_arm64_crash) ----
ROLLOUT = RolloutSpec("tags.site = 'a'", (Ring("canary", 30, min_devices=1), Ring("all", 100)), AbortBounds())
SLOW_BAKE = RolloutSpec("tags.site = 'a'", (Ring("canary", 30, min_devices=1, bake_minutes=10), Ring("all", 100)),
                        AbortBounds())  # rollout_control: a person acts while its canary bakes
FLEETS: dict[str, RolloutService] = {}


def _fleet(model: str) -> RolloutService:
    if model not in FLEETS:
        module = module_name(model)

        def behaviour(device: str, arch: str, version: str) -> Outcome:
            if model == "rollout_arm64_crash" and version != "1" and arch == "arm64":
                return Outcome(status="backoff")
            return Outcome(signals=VersionSignals(requests=20, p95_ms=5.0, histogram={"a": 10, "b": 10}))

        sim = SimulatedFleet(SimulatedRuntime(module, behaviour))
        for i in range(12):
            sim.add_device(f"{model}-{i}", "arm64" if i % 3 == 2 else "amd64", {"site": "a"})
        sim.create_deployment(LayeredDeployment(f"{module}-v1", "tags.site = 'a'", 1, layered_content(
            model, module, "1", f"127.0.0.1:2/m@{DIGEST}", "run-1"), {LABEL_MODEL: model, LABEL_VERSION: "1"}))
        spec = SLOW_BAKE if model == "rollout_control" else ROLLOUT
        FLEETS[model] = RolloutService(sim, lambda _model: spec, poll_seconds=1, rollback_timeout_s=10)
    return FLEETS[model]


def _rollout_activity(name: RolloutActivity):
    def activity(req: dict):
        model = req.get("model") or req["plan"]["model"]
        if model == "rollout_broken" and name == RolloutActivity.JUDGE_RING:
            raise ConnectionError("IoT Hub answered 503 (attempt after attempt)")
        return handlers(_fleet(model))[name](req)
    activity.__name__ = str(name)
    return activity


for _name in RolloutActivity:
    app.activity_trigger(input_name="req")(_rollout_activity(_name))
