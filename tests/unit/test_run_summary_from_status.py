"""A run's summary is read from its Durable status as records: the lineage from the result once the run ended,
else from the custom status; an output of another shape (a crash's message, a null lineage) falls back to the
custom status, and a custom status of any shape gives an empty lineage, never an error."""

from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

from contract import Lineage, RunStatus, Stage
from function_app.http import _summary

PROGRESS = {"stage": "approval", "lineage": {"model": "wine_cultivar", "model_version": "3"}}
RESULT = {"status": "Rejected", "stage": "gate", "reason": "rmse 0.9 > 0.5",
          "lineage": {"model": "wine_cultivar", "model_version": "4", "stage_seconds": {"train": 12.5}}}


def _status(custom, output, runtime=OrchestrationRuntimeStatus.Completed) -> DurableOrchestrationStatus:
    return DurableOrchestrationStatus(name="run", instanceId="wine-1", createdTime="2026-12-07T21:00:00Z",
                                      lastUpdatedTime="2026-12-07T21:05:00Z", output=output, runtimeStatus=runtime,
                                      customStatus=custom)


def test_an_ended_run_reads_its_result_and_the_results_lineage():
    run = _summary(_status(PROGRESS, RESULT))
    assert (run.result, run.ended_at_stage, run.reason) == (RunStatus.REJECTED, Stage.GATE, "rmse 0.9 > 0.5")
    assert run.lineage.model_version == "4" and run.lineage.stage_seconds == {Stage.TRAIN: 12.5}


def test_a_running_run_reads_its_custom_status():
    run = _summary(_status(PROGRESS, None, OrchestrationRuntimeStatus.Running))
    assert run.stage == Stage.APPROVAL and run.result is None and run.lineage.model_version == "3"


def test_outputs_of_another_shape_fall_back_to_the_custom_status():
    for output in ("Orchestrator function 'run' failed: boom", {**RESULT, "lineage": None}, ["x"]):
        run = _summary(_status(PROGRESS, output, OrchestrationRuntimeStatus.Failed))
        assert run.lineage.model_version == "3", output


def test_a_custom_status_of_any_shape_gives_an_empty_lineage():
    for custom in (None, "text", {"lineage": None}, {"stage": "no such stage"}):
        run = _summary(_status(custom, None, OrchestrationRuntimeStatus.Running))
        assert run.lineage == Lineage() and run.stage is None, custom
