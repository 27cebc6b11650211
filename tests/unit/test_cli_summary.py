"""The CLI's output: the summary table `model-factory run` ends with, the text of the app's answer pages."""

from cli.commands.stack import _short_ref, _summary_rows
from cli.table import table
from contract import RunStatus, RunSummary


def test_summary_row_shows_version_key_metric_digest_update_size_edge_prod_and_stage_seconds():
    run = {"result": "Succeeded", "lineage": {
        "model_version": "3", "metrics": {"rmse": 2.3812, "r2": 0.9}, "image_digest": "sha256:" + "ab" * 32,
        "update_bytes": {"amd64": 20480, "arm64": 22528}, "update_from": "127.0.0.1:5200/models/nyc-taxi:v2",
        "edge": {"status": "pass"}, "prod_ref": "127.0.0.1:5200/models/nyc-taxi:v3@sha256:" + "ab" * 32,
        "stage_seconds": {"train": 20.4, "validate": 0.2, "package": 21.0}}}
    [row] = _summary_rows({"nyc_taxi": RunSummary.from_dict({"run_id": "r", **run})}, {"nyc_taxi": "rmse"})
    assert row == ["nyc_taxi", "Succeeded", "3", "rmse=2.381", "abababababab", "22.0 KB", "pass",
                   "127.0.0.1:5200/models/nyc-taxi:v3@sha256:abababababab", "",  # the rollout column: none declared
                   "validate:0 train:20 package:21"]


def test_a_failed_run_shows_its_reason_instead_of_a_prod_reference():
    run = RunSummary("r", result=RunStatus.REJECTED, reason="quality gate: rmse 7 is above the maximum 6")
    [row] = _summary_rows({"nyc_taxi": run}, {"nyc_taxi": "rmse"})
    assert row[1] == "Rejected" and row[5] == "" and row[7].startswith("quality gate")
    assert _short_ref("") == ""
    lines = table(["model", "result", "v", "m", "i", "u", "e", "prod", "s"], [row]).splitlines()
    assert lines[2].startswith("nyc_taxi")


def test_page_text_reads_the_message_of_an_app_page_unescaped():
    from cli.client import page_text
    from function_app import pages

    page = pages.message(410, "Already closed", "run x is already closed (approve by <alice> & co)").get_body()
    assert page_text(page.decode()) == "Already closed: run x is already closed (approve by <alice> & co)"
    assert page_text("plain text answer") == "plain text answer"


def test_status_lists_each_waiting_approval_with_its_time_left():
    from cli.commands.stack import waiting_rows

    run = {"run_id": "wine-1", "lineage": {"model": "wine_cultivar", "model_version": "4"},
           "approval": {"runtime_status": "Running", "expires_at": "2027-01-15T09:00:00+00:00"}}
    [row] = waiting_rows([RunSummary.from_dict(run)], 1_800_000_000.0 - 125)  # 1 h 2 min 5 s before expiry
    assert row == ["wine-1", "wine_cultivar", "4", "62 min 5 s", "2027-01-15T09:00:00+00:00"]
