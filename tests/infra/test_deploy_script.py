"""infra/deploy.sh runs the deployment in the order Azure needs: Bicep without the Event Grid subscriptions,
publish the function code to the app the deployment created, Bicep again with the subscriptions. `az` and
`func` are replaced by recording stand-ins on PATH (no Azure here); the script itself runs for real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "deploy.sh"


def fake_tools(tmp_path: Path, app_name: str) -> tuple[dict[str, str], Path]:
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(
        "#!/usr/bin/env bash\n"
        f'echo "az $*" >> "{calls}"\n'
        f'if [[ "$1 $2 $3" == "deployment group create" ]]; then echo "{app_name}"; fi\n'
    )
    (bin_dir / "func").write_text(f'#!/usr/bin/env bash\necho "func $* (cwd $PWD)" >> "{calls}"\n')
    for tool in ("az", "func"):
        (bin_dir / tool).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AZURE_LOCATION": "westeurope"}
    env.pop("RESOURCE_GROUP", None)
    return env, calls


def test_deploys_infra_then_code_then_subscriptions(tmp_path: Path) -> None:
    env, calls = fake_tools(tmp_path, "func-mf-dev-abc123")
    proc = subprocess.run([str(SCRIPT), "dev", "approvalWebhookUrl=https://hooks.example/x"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = calls.read_text().splitlines()
    assert len(lines) == 4, lines
    assert lines[0] == "az group create --name rg-model-factory-dev --location westeurope --output none"
    first, publish, second = lines[1:]
    params = f"--parameters @{REPO}/infra/main.dev.parameters.json"
    assert first.startswith("az deployment group create --resource-group rg-model-factory-dev")
    assert params in first and "eventSubscriptionsEnabled=false approvalWebhookUrl=https://hooks.example/x" in first
    assert f"--template-file {REPO}/infra/main.bicep" in first
    assert publish == f"func azure functionapp publish func-mf-dev-abc123 --python (cwd {REPO})"
    assert params in second and "eventSubscriptionsEnabled=true approvalWebhookUrl=https://hooks.example/x" in second
    assert "func-mf-dev-abc123" in proc.stdout


def test_unknown_environment_is_refused_before_any_azure_call(tmp_path: Path) -> None:
    env, calls = fake_tools(tmp_path, "unused")
    proc = subprocess.run([str(SCRIPT), "staging"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "main.staging.parameters.json" in proc.stderr
    assert not calls.exists()


def test_missing_location_is_refused_before_any_azure_call(tmp_path: Path) -> None:
    env, calls = fake_tools(tmp_path, "unused")
    del env["AZURE_LOCATION"]
    proc = subprocess.run([str(SCRIPT), "prod"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "AZURE_LOCATION" in proc.stderr
    assert not calls.exists()


def test_stops_when_the_deployment_names_no_function_app(tmp_path: Path) -> None:
    env, calls = fake_tools(tmp_path, "")
    proc = subprocess.run([str(SCRIPT), "prod"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "AZURE_FUNCTION_APP_NAME" in proc.stderr
    assert not any(line.startswith("func ") for line in calls.read_text().splitlines())
