"""The scoring server (model_server) with a model's real score.py: routes, keep-alive, bad input → 400."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from factory.adapters.local.host import free_port
from model_server.check import wait_ready
from tests.packaging.helpers import REPO

SCORE = REPO / "modelkit" / "serving" / "score.py"  # the kit's serving entry script
FEATURES = ["a", "b", "c"]


class Server:
    def __init__(self, score: Path, model_dir: Path, log: Path, max_body: int = 4096,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "model_server", "--score", str(score), "--host", "127.0.0.1",
             "--port", str(self.port), "--max-body", str(max_body)],
            cwd=REPO, env={"AZUREML_MODEL_DIR": str(model_dir), "PATH": "/usr/bin:/bin", **(env or {})},
            stdout=log.open("wb"), stderr=subprocess.STDOUT)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict]:
        conn = self.connect()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else {}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    joblib.dump(LinearRegression().fit(x, x @ np.array([1.0, 2.0, 3.0]) + 4.0), folder / "model.joblib")
    (folder / "model.json").write_text(json.dumps({"name": "tiny", "task": "regression", "features": FEATURES,
                                                   "target": "y"}))
    return folder


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    srv = Server(SCORE, model_dir, tmp_path_factory.mktemp("log") / "server.log")
    wait_ready(f"http://127.0.0.1:{srv.port}", 30)
    yield srv
    srv.stop()


def test_liveness_readiness_and_a_good_request(server):
    assert server.request("GET", "/") == (200, {"status": "alive"})
    assert server.request("GET", "/ready") == (200, {"status": "ready"})
    status, body = server.request("POST", "/score", json.dumps({"data": [[1, 1, 1], [0, 0, 0.5]]}).encode())
    assert status == 200
    assert body["predictions"] == pytest.approx([10.0, 5.5])


def test_rows_as_feature_objects_give_the_same_predictions(server):
    rows = {"data": [{"c": 1, "a": 1, "b": 1}]}
    assert server.request("POST", "/score", json.dumps(rows).encode())[1]["predictions"] == pytest.approx([10.0])
    assert server.request("POST", "/score", json.dumps(rows["data"]).encode())[1]["predictions"] == pytest.approx(
        [10.0])


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "not JSON"),
    (b"", "not JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"rows": [[1, 2, 3]]}', '"data"'),
    (b'{"data": "1,2,3"}', "non-empty list of rows"),
    (b'{"data": []}', "non-empty list of rows"),
    (b'{"data": [[1, 2]]}', "row 0: expected 3 values (a, b, c), got 2"),
    (b'{"data": [[1, 2, 3], [1, 2, 3, 4]]}', "row 1: expected 3 values"),
    (b'{"data": [[1, "2", 3]]}', "row 0, feature 'b': expected a number, got \\\"2\\\""),
    (b'{"data": [[1, true, 3]]}', "feature 'b': expected a number"),
    (b'{"data": [[1, [2], 3]]}', "feature 'b': expected a number"),
    (b'{"data": [[1, NaN, 3]]}', "NaN is not a finite number"),
    (b'{"data": [[1, 1e999, 3]]}', "must be a finite number"),
    (b'{"data": [[1, 2, 1' + b"0" * 400 + b"]]}", "finite number"),
    (b'{"data": [{"a": 1, "b": 2}]}', "row 0: missing feature(s) c"),
    (b'{"data": [{"a": 1, "b": 2, "c": 3, "d": 4}]}', "unknown feature(s) d"),
    (b'{"data": [7]}', "row 0: expected a list of 3 numbers or an object"),
    (b'{"data": [[1, null, 3]]}', "does not accept missing values"),
])
def test_malformed_input_gets_400_saying_what_was_wrong(server, body, message):
    status, answer = server.request("POST", "/score", body)
    assert status == 400, answer
    assert message in json.dumps(answer) or message in answer["error"]


def test_too_many_rows_and_too_large_bodies_get_400_and_the_connection_stays_usable(server):
    status, answer = server.request("POST", "/score", json.dumps({"data": [[1, 2, 3]] * 500}).encode())
    assert status == 400 and "limit is 4096 bytes" in answer["error"]
    conn = server.connect()
    conn.request("POST", "/score", body=b"x" * 10_000)
    resp = conn.getresponse()
    assert resp.status == 400 and b"request body is 10000 bytes" in resp.read()
    conn.request("POST", "/score", body=json.dumps({"data": [[0, 0, 0]]}).encode())
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["predictions"] == pytest.approx([4.0])


def test_unknown_routes_and_methods(server):
    assert server.request("GET", "/nope")[0] == 404
    assert server.request("GET", "/score")[0] == 405
    assert server.request("POST", "/ready")[0] == 405
    assert server.request("GET", "/ready?probe=1")[0] == 200


def test_keep_alive_reuses_one_connection(server):
    conn = server.connect()
    sockets = set()
    for _ in range(5):
        conn.request("POST", "/score", body=b'{"data": [[1, 2, 3]]}')
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Connection") == "keep-alive"
        resp.read()
        sockets.add(id(conn.sock))
    assert len(sockets) == 1
    conn.close()


def test_pipelined_requests_are_answered_in_order(server):
    request = (b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s")
    first, second = b'{"data": [[0, 0, 0]]}', b'{"data": [[1, 1, 1]]}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request % (len(first), first) + request % (len(second), second) + b"GET /nope HTTP/1.1\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"HTTP/1.1 ") < 3 and time.monotonic() < deadline:
            data += sock.recv(65536)
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert json.loads(bodies[0])["predictions"] == pytest.approx([4.0])
    assert json.loads(bodies[1])["predictions"] == pytest.approx([10.0])
    assert b"no route /nope" in bodies[2]


def test_protocol_errors_are_400s_not_500s(server):
    for raw in (b"NONSENSE\r\n\r\n", b"POST /score HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
                b"POST /score HTTP/1.1\r\nno colon here\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(raw)
            assert sock.recv(4096).startswith(b"HTTP/1.1 400 ")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 411 ")


def test_expect_100_continue(server):
    body = b'{"data": [[1, 1, 1]]}'
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        assert b'"predictions":[10.0' in sock.recv(4096)


def _serve(score_py: str, model_dir: Path, tmp_path: Path, env: dict[str, str] | None = None) -> Server:
    """Start the server on a score.py with this source (its log: ``tmp_path/server.log``)."""
    script = tmp_path / "score.py"
    script.write_text(score_py)
    return Server(script, model_dir, tmp_path / "server.log", env=env)


def test_run_exception_is_a_500_with_a_short_message_and_logged(model_dir, tmp_path):
    srv = _serve("def init():\n    pass\n\ndef run(raw):\n    raise RuntimeError('the model exploded')\n",
                 model_dir, tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{srv.port}", 30)
        status, answer = srv.request("POST", "/score", b'{"data": [[1, 2, 3]]}')
        assert status == 500
        assert answer == {"error": "run() failed: RuntimeError: the model exploded"}
    finally:
        srv.stop()
    log = (tmp_path / "server.log").read_text()
    assert "run() failed" in log and "Traceback" in log


def test_ready_only_after_init_finished_while_liveness_answers(model_dir, tmp_path):
    srv = _serve("import time\n\ndef init():\n    time.sleep(2)\n\ndef run(raw):\n    return {'ok': raw}\n",
                 model_dir, tmp_path)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                assert srv.request("GET", "/") == (200, {"status": "alive"})
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        assert srv.request("GET", "/ready")[0] == 503
        assert srv.request("POST", "/score", b"{}")[0] == 503
        wait_ready(f"http://127.0.0.1:{srv.port}", 10)
        assert srv.request("POST", "/score", b'"x"') == (200, {"ok": '"x"'})
    finally:
        srv.stop()


def test_failing_init_stops_the_server_with_the_error_logged(model_dir, tmp_path):
    srv = _serve("def init():\n    raise FileNotFoundError('model.joblib is missing')\n\ndef run(raw):\n    pass\n",
                 model_dir, tmp_path)
    assert srv.proc.wait(timeout=20) != 0
    assert "model.joblib is missing" in (tmp_path / "server.log").read_text()


def test_a_result_that_is_not_json_is_a_500_not_invalid_json(model_dir, tmp_path):
    srv = _serve("def init():\n    pass\n\ndef run(raw):\n    return {'nan': float('nan'), 'set': raw == '1'}\n",
                 model_dir, tmp_path)
    try:
        wait_ready(f"http://127.0.0.1:{srv.port}", 30)
        status, answer = srv.request("POST", "/score", b"1")
        assert status == 500 and "not JSON-serialisable" in answer["error"]
    finally:
        srv.stop()


def test_signals_count_requests_errors_latency_and_the_predictions_histogram(model_dir, tmp_path):
    srv = Server(SCORE, model_dir, tmp_path / "server.log")
    try:
        wait_ready(f"http://127.0.0.1:{srv.port}", 30)
        for row in ([1, 1, 1], [0, 0, 0.5], [1, 1, 1]):
            assert srv.request("POST", "/score", json.dumps({"data": [row]}).encode())[0] == 200
        assert srv.request("POST", "/score", b"{not json")[0] == 400
        status, signals = srv.request("GET", "/signals")
        assert status == 200
        assert (signals["requests"], signals["errors"], signals["refused"], signals["window"]) == (4, 0, 1, 4)
        assert signals["histogram"] == {"10": 2, "6": 1}  # 10.0, 5.5 -> one significant digit
        assert 0 < signals["p50_ms"] <= signals["p95_ms"]
        assert srv.request("POST", "/signals")[0] == 405
    finally:
        srv.stop()


def test_a_tampered_model_file_in_a_signed_layout_is_never_loaded_and_ready_never_answers(tmp_path):
    """The image's layout: /app/model (the folder), /app/model.sig and /app/model-signing.pub beside it,
    MODEL_SIGNATURE set (the Dockerfile sets it when the context was signed)."""
    from factory.supplychain.modelsig import SIGNATURE_FILE, write_signature
    from tests.supplychain.helpers import make_signer

    app = tmp_path / "app"
    folder = app / "model"
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(b"weights v1")
    (folder / "model.json").write_text('{"task": "regression"}')
    write_signature(folder, app, make_signer(tmp_path / "keys"), "tiny")
    loaded = tmp_path / "loaded"
    score = (f"import os\nfrom pathlib import Path\n\ndef init():\n    Path({str(loaded)!r}).write_bytes("
             "(Path(os.environ['AZUREML_MODEL_DIR']) / 'model.joblib').read_bytes())\n\n"
             "def run(raw):\n    return {'ok': True}\n")
    env = {"MODEL_SIGNATURE": str(app / SIGNATURE_FILE)}
    srv = _serve(score, folder, tmp_path, env)
    try:  # intact: verified, loaded, ready
        wait_ready(f"http://127.0.0.1:{srv.port}", 30)
        assert loaded.read_bytes() == b"weights v1"
    finally:
        srv.stop()
    loaded.unlink()
    (folder / "model.joblib").write_bytes(b"weights v2")  # changed after signing
    srv = _serve(score, folder, tmp_path, env)
    ready: list[int] = []
    while srv.proc.poll() is None:
        try:
            ready.append(srv.request("GET", "/ready")[0])
        except OSError:
            time.sleep(0.05)
    assert srv.proc.returncode == 3
    assert 200 not in ready and not loaded.exists()  # never ready, init() never ran
    assert "does not match its signature (changed: model.joblib)" in (tmp_path / "server.log").read_text()
