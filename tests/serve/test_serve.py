"""`modelpack serve` through real server processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

import modelpack
from conftest import extension, models

COMMAND = str(Path(sys.executable).parent / "modelpack")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(path: Path, *args: str, command: str = COMMAND, env: dict[str, str] | None = None):
    port = free_port()
    proc = subprocess.Popen([command, "serve", str(path), "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=None if env is None else {**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stdout.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not come up in 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def frame_server(tmp_path_factory):
    trained = models()["pipeline_frame"]
    path = tmp_path_factory.mktemp("serve") / "model.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    with running(path, "--max-rows", "50", "--max-body", "20000") as url:
        yield url, trained


@pytest.mark.parametrize("format_name", modelpack.registry.formats_that_write("estimators"))
def test_predictions_equal_the_librarys_for_each_format(tmp_path, format_name):
    trained = models()["pipeline_frame"]
    path = tmp_path / f"model{extension(format_name)}"
    modelpack.save(trained.model, path, sample=trained.X)
    loaded = modelpack.load(path)
    rows = trained.X.head(10)
    records = json.loads(rows.to_json(orient="records"))
    with running(path) as url:
        response = httpx.post(f"{url}/predict?proba=true", json=records, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == list(loaded.predict(rows))
        assert body["classes"] == ["no", "yes"]
        np.testing.assert_allclose(body["probabilities"], loaded.predict_proba(rows), rtol=1e-6)
        one = records[3]
        got = httpx.get(f"{url}/predict", params={k: str(v) for k, v in one.items()}, timeout=30).json()
        assert got["predictions"] == [loaded.predict(rows.iloc[3:4])[0]]


def test_columns_and_single_record_shapes(frame_server):
    url, trained = frame_server
    rows = trained.X.head(4)
    columns = {c: json.loads(rows[c].to_json(orient="values")) for c in rows.columns}
    by_columns = httpx.post(f"{url}/predict", json=columns).json()["predictions"]
    single = httpx.post(f"{url}/predict", json=json.loads(rows.iloc[:1].to_json(orient="records"))[0]).json()
    assert by_columns == list(trained.model.predict(rows))
    assert single["predictions"] == by_columns[:1]


def test_null_is_scored_only_where_the_model_answers_for_it(frame_server):
    """The encoder ignores an unknown (missing) city; the scaler cannot score a missing income and
    ONNX would return NaN probabilities with a made-up label: refused, naming the field."""
    url, _ = frame_server
    city = httpx.post(f"{url}/predict?proba=true", json=[{"age": 40, "income": 1.0, "city": None, "plan": "pro"}])
    assert city.status_code == 200 and city.json()["predictions"][0] in ("yes", "no")
    income = httpx.post(f"{url}/predict", json=[{"age": 40, "income": None, "city": "Paris", "plan": "pro"}])
    assert income.status_code == 422 and income.json()["field"] == "income", income.text


@pytest.mark.parametrize("format_name", ["joblib", "onnx"])
def test_a_missing_number_gets_the_same_answer_from_every_format(tmp_path, format_name):
    trained = models()["pipeline_frame"]
    path = tmp_path / f"model{extension(format_name)}"
    modelpack.save(trained.model, path, sample=trained.X)
    with running(path) as url:
        response = httpx.post(f"{url}/predict", json={"age": 40, "income": None, "city": "Paris", "plan": "pro"})
    assert response.status_code == 422 and "income" in response.json()["error"], response.text


@pytest.mark.parametrize("body,status,field,message", [
    ([{"age": "old", "income": 1.0, "city": "Paris", "plan": "pro"}], 422, "age", "expected a number"),
    ([{"age": 40, "income": 1.0, "city": "Paris"}], 422, "plan", "missing field"),
    ([{"age": 40, "income": 1.0, "city": "Paris", "plan": "pro", "zip": 1}], 422, "zip", "unexpected field"),
    ([{"age": 40.5, "income": 1.0, "city": "Paris", "plan": "pro"}], 422, "age", "whole number"),
    ([{"age": 40, "income": 1.0, "city": 7, "plan": "pro"}], 422, "city", "expected a string"),
    ([{"age": True, "income": 1.0, "city": "Paris", "plan": "pro"}], 422, "age", "expected a number"),
    ([], 422, None, "no rows"),
    ("just text", 422, None, "send a JSON object"),
    ([{"age": 40, "income": 1.0, "city": "Paris", "plan": "pro"}] * 51, 413, None, "too many rows"),
    ([{"age": 10**30, "income": 1.0, "city": "Paris", "plan": "pro"}], 422, "age", "64-bit integer range"),
    ([{"age": 1.5e300, "income": 1.0, "city": "Paris", "plan": "pro"}], 422, "age", "64-bit integer range"),
    # integers beyond any float: compared as integers (math.isfinite of one raised OverflowError: a 500)
    ([{"age": 10**400, "income": 1.0, "city": "Paris", "plan": "pro"}], 422, "age", "64-bit integer range"),
    ([{"age": 40, "income": -(10**400), "city": "Paris", "plan": "pro"}], 422, "income", "float64 range"),
    ([{"age": 40, "income": 1.0, "city": "Paris", "plan": "pro", "x\ud800": 1}], 422, "x\\ud800", "unexpected field"),
])
def test_bad_requests_are_4xx_naming_the_field(frame_server, body, status, field, message):
    url, _ = frame_server  # sent as escaped JSON: a lone surrogate is legal there, and not in UTF-8
    response = httpx.post(f"{url}/predict", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert response.json().get("field") == field


def test_a_whole_number_beyond_floats_exact_range_is_taken_for_an_integer_field(frame_server):
    url, _ = frame_server  # 2**53 + 1 is a valid int64; through a float it would seem a fraction
    response = httpx.post(f"{url}/predict", json={"age": 2**53 + 1, "income": 2**60, "city": "Paris", "plan": "pro"})
    assert response.status_code == 200 and response.json()["predictions"][0] in ("yes", "no"), response.text


def test_malformed_oversized_and_wrong_type_bodies(frame_server):
    url, _ = frame_server
    assert httpx.post(f"{url}/predict", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    infinity = b'[{"age": 40, "income": Infinity, "city": "Paris", "plan": "pro"}]'
    assert httpx.post(f"{url}/predict", content=infinity, headers={"Content-Type": "application/json"}).status_code == 400
    big = json.dumps([{"age": 40, "income": 1.0, "city": "x" * 30_000, "plan": "pro"}]).encode()
    assert httpx.post(f"{url}/predict", content=big, headers={"Content-Type": "application/json"}).status_code == 413
    assert httpx.post(f"{url}/predict", content=b"age=1", headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.get(f"{url}/predict", params={"age": "x", "income": "1", "city": "a", "plan": "b"}).status_code == 422
    assert httpx.get(f"{url}/predict?proba=maybe").status_code == 400
    # and the server is still up after all of that
    assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_metadata_openapi_and_cors_off_by_default(frame_server):
    url, _ = frame_server
    meta = httpx.get(f"{url}/metadata").json()
    assert [f["name"] for f in meta["input_schema"]["features"]] == ["age", "income", "city", "plan"]
    spec = httpx.get(f"{url}/openapi.json").json()
    record = spec["components"]["schemas"]["Record"]
    assert record["properties"]["age"]["type"] == "integer" and record["additionalProperties"] is False
    assert "Paris" in record["properties"]["city"]["description"]
    response = httpx.options(f"{url}/predict", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_for_the_given_origin_and_two_workers(tmp_path):
    trained = models()["logistic"]
    path = tmp_path / "m.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    with running(path, "--cors-origin", "https://app.example", "--workers", "2") as url:
        allowed = httpx.options(f"{url}/predict", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
        other = httpx.options(f"{url}/predict", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert other.headers.get("access-control-allow-origin") != "https://evil.example"
        rows = [dict(zip([f"x{i + 1}" for i in range(4)], map(float, r))) for r in trained.X[:5]]
        for _ in range(4):  # spread over both workers
            assert httpx.post(f"{url}/predict", json=rows).json()["predictions"] == list(trained.model.predict(trained.X[:5]))


def test_form_page_in_headless_chromium(frame_server):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed: apt-get install chromium")
    from examples.test_browser import CHROMIUM_FLAGS
    from playwright.sync_api import sync_playwright

    url, trained = frame_server
    row = trained.X.iloc[7]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(f"{url}/")
        assert page.locator("select[name=city] option").all_inner_texts() == ["Lagos", "Paris", "Zürich"]
        page.fill("[name=age]", str(row["age"]))
        page.fill("[name=income]", str(row["income"]))
        page.select_option("[name=city]", row["city"])
        page.select_option("[name=plan]", row["plan"])
        page.click("#predict")
        page.wait_for_selector("#prediction[data-ready=true]")
        assert page.inner_text("#prediction") == trained.model.predict(trained.X.iloc[7:8])[0]
        assert "no:" in page.inner_text("#probabilities")
        browser.close()


def test_files_not_written_by_modelpack_serve_with_a_schema_from_the_model(tmp_path):
    import pickle

    from skl2onnx import to_onnx

    trained = models()["logistic"]
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(trained.model))
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(to_onnx(trained.model, trained.X[:1].astype("float32")).SerializeToString())
    rows = [dict(zip([f"x{i + 1}" for i in range(4)], map(float, r))) for r in trained.X[:5]]
    for path in (plain, foreign):
        with running(path) as url:
            response = httpx.post(f"{url}/predict", json=rows)
            assert response.status_code == 200, response.text
            assert response.json()["predictions"] == list(trained.model.predict(trained.X[:5]))


def test_deeply_nested_json_is_a_400(frame_server):
    url, _ = frame_server
    response = httpx.post(f"{url}/predict", content=b"[" * 100_000 + b"]" * 100_000,
                          headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413) and "error" in response.json()


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """A 300-tree forest from joblib: a 40k-row request keeps a thread busy for a second or more."""
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(0).normal(size=(400, 4))
    path = tmp_path_factory.mktemp("slow") / "forest.joblib"
    modelpack.save(RandomForestClassifier(300, random_state=0).fit(X, X[:, 0] > 0), path, sample=X)
    with running(path, "--max-rows", "100000", "--max-body", str(20 << 20), "--max-queue", "0",
                 "--header-timeout", "1", "--body-timeout", "1") as url:
        yield url, [{f"x{i + 1}": float(v) for i, v in enumerate(row)} for row in np.tile(X, (100, 1))]


def test_health_answers_while_a_prediction_runs_and_a_full_queue_is_503(slow_server):
    import threading

    url, rows = slow_server
    done: list[tuple[float, httpx.Response]] = []

    def big() -> None:
        response = httpx.post(f"{url}/predict", json=rows, timeout=120)
        done.append((time.monotonic(), response))

    workers = [threading.Thread(target=big) for _ in range(3)]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    start = time.monotonic()
    health = httpx.get(f"{url}/health", timeout=5)
    health_seconds = time.monotonic() - start
    for worker in workers:
        worker.join()
    statuses = sorted(r.status_code for _, r in done)
    # The proof is the order (asserted below: /health answered while the prediction still ran; a server
    # scoring on its event loop answers after it); the bound only keeps a loaded CI machine honest.
    assert health.status_code == 200 and health_seconds < 1.0, f"/health took {health_seconds:.2f} s"
    assert statuses[0] == 200 and statuses[-1] == 503, statuses  # one thread, no queue: the rest are told to retry
    assert all(r.headers["Retry-After"] == "1" for _, r in done if r.status_code == 503)
    finished = max(t for t, r in done if r.status_code == 200)
    assert finished > start + health_seconds, "the prediction was over before /health was asked"
    assert len(next(r for _, r in done if r.status_code == 200).json()["predictions"]) == len(rows)


def test_slow_headers_and_slow_bodies_are_cut_off(slow_server):
    url, _ = slow_server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHo")
        start = time.monotonic()
        assert conn.recv(100) == b""  # closed by the server
        assert time.monotonic() - start < 5
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n[{")
        answer = conn.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_connection_whose_headers_come_in_time_is_never_cut(slow_server):
    """The header deadline (1 s here) is each request's, not the connection's: a keep-alive connection
    asking every 0.3 s for 2.5 s, each request's headers in two parts, then once more after 1.6 s
    idle, gets every answer."""
    url, _ = slow_server
    host, port = url.removeprefix("http://").split(":")
    answers = []
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        start = time.monotonic()
        while time.monotonic() - start < 2.5:
            conn.sendall(b"GET /health HTTP/1.1\r\nHo")
            time.sleep(0.1)
            conn.sendall(b"st: x\r\n\r\n")
            answers.append(_response(conn))
            time.sleep(0.2)
        time.sleep(1.6)  # idle past the header deadline, within keep-alive (5 s): no request, no deadline
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answers.append(_response(conn))
    assert len(answers) >= 8 and all(a.startswith(b"HTTP/1.1 200") and a.endswith(b"}") for a in answers), answers


def _response(conn: socket.socket) -> bytes:
    """One whole HTTP response (headers and a Content-Length body) from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(1000) or b"<closed>"
        if data.endswith(b"<closed>"):
            return data
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += conn.recv(1000) or b"<closed>"
    return head + b"\r\n\r\n" + body


def test_a_client_gone_before_its_body_arrived_is_no_server_error(tmp_path):
    """A client that hangs up halfway through its body leaves nothing in the server's log (it was
    "prediction failed" and Starlette's ClientDisconnect traceback), and the server answers on."""
    trained = models()["logistic"]
    path = tmp_path / "m.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([COMMAND, "serve", str(path), "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 1000\r\n\r\n[{")
                time.sleep(0.2)  # read by the server, which now waits for the rest
        names = modelpack.load(path).metadata.input_schema.names
        answer = httpx.post(f"{url}/predict", json=dict(zip(names, np.asarray(trained.X)[0].tolist())))
        assert answer.status_code == 200, answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log.read_text()
    assert "Uvicorn running" in text and "Traceback" not in text and "failed" not in text, text


def test_the_start_up_line_names_model_format_and_address(tmp_path):
    trained = models()["logistic"]
    path = tmp_path / "m.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    port = free_port()
    proc = subprocess.Popen([COMMAND, "serve", str(path), "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert f"serving {path} (onnx, sklearn.linear_model._logistic.LogisticRegression) on http://127.0.0.1:{port}" in line


def test_runtime_onnx_serves_the_checked_conversion_and_answers_alike(tmp_path):
    """`--runtime onnx` on a joblib pipeline: the ONNX session serves, and answers as scikit-learn does."""
    trained = models()["pipeline_frame"]
    path = tmp_path / "model.joblib"
    modelpack.save(trained.model, path, sample=trained.X)
    rows = trained.X[:60].to_dict("records")
    answers = {}
    scratch = tmp_path / "tmp"  # the server's temporary folder: the conversion is written there
    scratch.mkdir()
    for runtime, workers in (("native", "1"), ("onnx", "1"), ("onnx", "2")):
        with running(path, "--runtime", runtime, "--workers", workers, env={"TMPDIR": str(scratch)}) as url:
            assert httpx.get(f"{url}/metadata").json()["format"] == ("onnx" if runtime == "onnx" else "joblib")
            answer = httpx.post(f"{url}/predict?proba=true", json=rows)
            assert answer.status_code == 200, answer.text
            answers[runtime, workers] = answer.json()
            bad = httpx.post(f"{url}/predict", json=[{**rows[0], "age": "old"}])
            assert bad.status_code == 422 and bad.json()["field"] == "age"  # the same validation on both paths
            if workers == "2":  # the worker processes load the conversion from there while the server runs
                assert [p.name for p in scratch.glob("modelpack-serve-*/*")] == ["model.onnx"]
        # stopped by SIGTERM, one process or several, the server leaves nothing behind
        assert not list(scratch.glob("modelpack-serve-*"))
    for workers in ("1", "2"):
        assert answers["onnx", workers]["predictions"] == answers["native", "1"]["predictions"]
        np.testing.assert_allclose(answers["onnx", workers]["probabilities"], answers["native", "1"]["probabilities"],
                                   rtol=1e-4, atol=1e-5)


def test_runtime_onnx_without_rows_to_check_on_serves_the_model_itself(tmp_path):
    trained = models()["pipeline_frame"]
    path = tmp_path / "model.joblib"
    modelpack.save(trained.model, path)  # no sample: nothing to prove a conversion on
    proc = subprocess.Popen([COMMAND, "serve", str(path), "--runtime", "onnx", "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()
        assert "--runtime onnx" in first and "no sample rows" in first and "serving joblib" in first
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_requests_scored_on_the_loop_in_threads_and_through_starlette_answer_alike(tmp_path):
    """The inline path (a fast model's small request scored on the event loop), the thread pool
    (--inline-ms 0), and POST /predict routed by Starlette (as with --cors-origin, answered with its
    JSONResponse) rather than handed straight to its handler (which sends the same bytes itself)
    give the same statuses, bodies and headers: answers, probabilities, refusals, GETs. A single
    record of plain values is typed in one pass (plain_record), a list of records by the general path:
    the same rows answer alike either way."""
    trained = models()["pipeline_frame"]
    path = tmp_path / "model.onnx"
    modelpack.save(trained.model, path, sample=trained.X)
    rows = trained.X[:8].to_dict("records")
    requests = [("POST", "/predict", row) for row in rows]  # single rows: the first is timed in a thread, then inline
    requests += [("POST", "/predict?proba=true", rows[0]), ("POST", "/predict?proba=true", rows),
                 ("POST", "/predict", {**rows[1], "city": None}), ("POST", "/predict", {**rows[1], "income": None}),
                 ("POST", "/predict", {**rows[2], "age": "old"}), ("POST", "/predict", {**rows[2], "age": 4.5}),
                 ("POST", "/predict?proba=maybe", rows[3]), ("GET", "/predict", {k: str(v) for k, v in rows[4].items()}),
                 ("POST", "/predict", [rows[5]] * 300),  # a body over 4 kB: parsed in a thread on both
                 ("RAW", "/predict", b"{not json"), ("TEXT", "/predict", b"age=1"), ("POST", "/predict", rows)]
    answers = {}
    for name, options in {"inline": ("--inline-ms", "1"), "threads": ("--inline-ms", "0"),
                          "starlette": ("--cors-origin", "https://app.example")}.items():
        with running(path, *options) as url:
            got = []
            for method, where, body in requests:
                r = (httpx.get(f"{url}{where}", params=body) if method == "GET"
                     else httpx.post(f"{url}{where}", content=body, headers={"Content-Type": "application/json"})
                     if method == "RAW" else httpx.post(f"{url}{where}", content=body, headers={"Content-Type": "text/plain"})
                     if method == "TEXT" else httpx.post(f"{url}{where}", json=body))
                r.json()  # JSON, every one
                got.append((r.status_code, r.headers["content-type"], r.headers["content-length"], r.content))
            answers[name] = got
    assert answers["inline"] == answers["threads"] == answers["starlette"]  # byte for byte
    statuses = [status for status, _, _, _ in answers["inline"]]
    singles = [json.loads(body)["predictions"][0] for _, _, _, body in answers["inline"][:8]]
    assert singles == json.loads(answers["inline"][-1][3])["predictions"]
    one = json.loads(answers["inline"][8][3])
    assert one["probabilities"][0] == json.loads(answers["inline"][9][3])["probabilities"][0]
    assert statuses.count(200) == 14 and statuses.count(422) == 3 and statuses.count(400) == 2 \
        and statuses.count(415) == 1, statuses


def test_the_scoring_cost_learns_a_fixed_and_a_per_row_part():
    from modelpack.serve import ScoringCost

    cost = ScoringCost()
    assert cost.estimate(1) == math.inf  # unmeasured: never inline
    cost.record(40_000, 1.0)  # a big request alone says nothing of one row's fixed cost
    assert cost.estimate(1) == math.inf and cost.estimate(2) == math.inf
    cost.record(1, 0.02)  # scikit-learn's 300-tree forest: 20 ms for one row, whatever the rows after it
    cost.record(40_000, 1.0)
    assert cost.estimate(1) == pytest.approx(0.02) and cost.estimate(1) > 0.001
    assert cost.estimate(1001) == pytest.approx(0.02 + 1000 * (1.0 - 0.02) / 39_999)
    for _ in range(30):  # it got faster (warmed up): recent calls weigh most
        cost.record(1, 50e-6)
    assert cost.estimate(1) < 0.001


def test_a_label_utf8_cannot_carry_is_escaped_both_ways(tmp_path):
    """A class label with a lone surrogate (a string read with surrogateescape) cannot be written as
    UTF-8: the sidecar and the answers escape it as JSON allows (\\ud800), the form page as a character
    reference, whether POST /predict goes straight to its handler or through Starlette. It was a
    traceback on save, and a server that would not start."""
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    path = tmp_path / "odd.joblib"
    modelpack.save(LogisticRegression().fit(X, np.array(["\ud800", "\ud800", "b", "b"], dtype=object)), path, sample=X)
    assert modelpack.load(path).metadata.classes == ["b", "\ud800"]
    for options in ((), ("--cors-origin", "https://app.example")):
        with running(path, *options) as url:
            fine = httpx.post(f"{url}/predict", json={"x1": 3.0})
            odd = httpx.post(f"{url}/predict?proba=true", json={"x1": 0.0})
            pages = [httpx.get(f"{url}{where}") for where in ("/", "/health", "/metadata", "/openapi.json")]
        assert [r.status_code for r in pages] == [200] * 4 and pages[2].json()["classes"] == ["b", "\ud800"]
        assert fine.status_code == 200 and fine.json() == {"predictions": ["b"]}
        assert odd.status_code == 200 and odd.headers["content-type"] == "application/json"
        assert odd.content.isascii() and b"\\ud800" in odd.content
        assert odd.json()["predictions"] == ["\ud800"] and odd.json()["classes"] == ["b", "\ud800"]
