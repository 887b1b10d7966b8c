"""vlparse on Ray Data: a real local Ray cluster on 127.0.0.1 (2 CPUs, capped object store), started once.

The cluster runs with ``VLPARSE_RAY_TEST_GATE``: model batches pass only while the gate's budget allows, so
the kill tests pace the job without racing a clock. S3 tests run against a moto server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import importlib.util

import pytest

from pdfs import make_pdf

needs_fsspec = pytest.mark.skipif(importlib.util.find_spec("fsspec") is None,
                                  reason="fsspec is installed with the ray extra (pip install 'vlparse[ray]')")
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray is not installed (pip install 'vlparse[ray]')")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "sample.pdf"
ANSWERS = ROOT / "examples" / "answers" / "qwen2.5-vl" / "sample-pdf"
RECORDED = ["--family", "qwen2.5-vl", "--from-output", str(ANSWERS)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- without Ray (these run everywhere) ------------------------------------------------------------------------
def test_without_ray_installed_ray_is_one_clear_line(cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    r = cli("doc", str(SAMPLE), "-o", str(tmp_path / "out"), *RECORDED, "--ray", "local")
    assert r.exit_code == 3
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == ['vlparse: error: --ray needs Ray Data, which is not installed: pip install "vlparse[ray]"']


def test_url_inputs_without_ray_are_a_usage_error(cli, tmp_path):
    r = cli("doc", "s3://bucket/a.pdf", "-o", str(tmp_path / "out"), *RECORDED)
    assert r.exit_code == 2
    assert "URL inputs are read by Ray workers" in r.stderr


def test_a_worker_error_in_ray_text_becomes_vlparses_own_error():
    """An actor that fails in its constructor reaches the driver as text only: its vlparse error is found in it."""
    from vlparse.integrations.ray import _as_vlparse_error

    e = _as_vlparse_error(RuntimeError("ActorDiedError: the actor died\nTraceback (most recent call last):\n  ...\n"
                                       "vlparse.backends.openai.ServerUnreachable: cannot reach the server at x"))
    assert (type(e).__name__, e.exit_code, e.message) == ("ServerUnreachable", 5, "cannot reach the server at x")
    e = _as_vlparse_error(RuntimeError("...\nModelError: cannot load the model"))
    assert (e.exit_code, e.message) == (3, "cannot load the model")
    e = _as_vlparse_error(RuntimeError("something else\nKeyError: 'x'"))
    assert e.exit_code == 5 and e.message.startswith("the Ray job failed:")


def _rows(pages, source="a.pdf", dup=()):
    """Finished-page rows as the Ray job yields them (with repeats, as after a task retry)."""
    from vlparse.core.geometry import Frame
    from vlparse.core.results import PageInfo, PageResult

    out = []
    for p in list(pages) + list(dup):
        res = PageResult(PageInfo(source, p, Frame(10, 10, 10, 10)), "ok", raw=f"answer {p}")
        out.append({"source": source, "kind": "image", "pages": json.dumps(list(pages)), "page": p, "state": "done",
                    "error": "", "result": json.dumps(res.to_dict()), "info": ""})
    return out


def test_the_driver_takes_each_page_once_when_rows_repeat(tmp_path):
    """Ray re-runs a task after a worker dies: its pages may arrive twice; outputs and manifest get them once."""
    from vlparse.integrations.ray import consume
    from vlparse.run.pipeline import Listener, Runner
    from vlparse.run.store import Store

    class Docs(Listener):
        def __init__(self):
            self.pages, self.documents = [], []

        def on_page(self, result, doc, resumed):
            self.pages.append(result.info.page)

        def on_document(self, doc):
            self.documents.append([r.info.page for r in doc.ordered()])

    store = Store(tmp_path, "fp")
    listener = Docs()
    runner = Runner(None, lambda: None, store=store, listener=listener)
    consume(_rows([1, 2, 3], dup=[2, 1]), runner, store)
    assert listener.pages == [1, 2, 3]
    assert listener.documents == [[1, 2, 3]]
    manifest = [json.loads(x) for x in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert sorted(x["page"] for x in manifest) == [1, 2, 3]
    assert runner.summary.pages_done == 3


def test_a_resumed_page_without_its_manifest_line_gets_one(tmp_path):
    """The driver died between a page record and its manifest line: the rerun logs the page (once)."""
    from vlparse.integrations.ray import consume
    from vlparse.run.pipeline import Runner
    from vlparse.run.store import Store

    store = Store(tmp_path, "fp")
    store.log({"source": "a.pdf", "page": 1, "status": "ok"})
    rows = _rows([1, 2])
    for r in rows:
        r["state"] = "resumed"
    consume(rows, Runner(None, lambda: None, store=store), store)
    manifest = [json.loads(x) for x in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert sorted(x["page"] for x in manifest) == [1, 2]


# -- fsspec (memory and local filesystems, in this process) ----------------------------------------------------


@needs_fsspec
def test_memory_output_keeps_records_manifest_exports_and_resumes(cli):
    import fsspec

    fs = fsspec.filesystem("memory")
    out = "memory://vlparse-test/out"
    r = cli("doc", str(SAMPLE), "-o", out, *RECORDED, "--md")
    assert r.exit_code == 0, r.stderr
    names = {p.rsplit("/", 1)[-1] for p in fs.find("/vlparse-test/out")}
    assert {"sample.md", "manifest.jsonl", "page-0001.json", "page-0002.json"} <= names
    assert "lock.json" not in names  # released at the end
    manifest = fs.cat_file("/vlparse-test/out/manifest.jsonl").decode().splitlines()
    assert [json.loads(x)["page"] for x in manifest] == [1, 2]
    assert all(json.loads(x)["schema_version"] == 1 for x in manifest)
    record = json.loads(fs.cat_file(next(p for p in fs.find("/vlparse-test/out") if p.endswith("page-0001.json"))))
    assert record["schema_version"] == 1 and record["result"]["page"] == 1
    r = cli("doc", str(SAMPLE), "-o", out, *RECORDED, "--md")
    assert r.exit_code == 0
    assert "2 already done" in r.stderr
    assert len(fs.cat_file("/vlparse-test/out/manifest.jsonl").decode().splitlines()) == 2
    fs.rm("/vlparse-test", recursive=True)


@needs_fsspec
def test_url_listing_on_local_and_memory_filesystems(tmp_path):
    from vlparse.run.remote import expand_urls

    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe_file("/lst/a.pdf", SAMPLE.read_bytes())
    fs.pipe_file("/lst/sub/b.png", b"x")
    fs.pipe_file("/lst/notes.txt", b"x")
    assert expand_urls(["memory://lst/*.pdf"])[0] == ["memory:///lst/a.pdf"]
    assert expand_urls(["memory://lst"])[0] == ["memory:///lst/a.pdf"]
    assert expand_urls(["memory://lst"], recursive=True)[0] == ["memory:///lst/a.pdf", "memory:///lst/sub/b.png"]
    assert expand_urls(["memory://lst/none.pdf"])[1] == [("memory://lst/none.pdf", "no such file")]
    shutil.copy(SAMPLE, tmp_path / "s.pdf")
    assert expand_urls([f"file://{tmp_path}/*.pdf"])[0] == [f"file://{tmp_path}/s.pdf"]
    fs.rm("/lst", recursive=True)


@needs_fsspec
def test_input_identity_is_etag_and_size_or_size_and_mtime(tmp_path):
    from vlparse.run.remote import identity

    p = tmp_path / "a.pdf"
    p.write_bytes(b"%PDF-1.4 one")
    first = identity(str(p))
    assert first["size"] == 12 and "mtime" in first
    os.utime(p, (1, 1))
    assert identity(str(p)) != first


@needs_fsspec
def test_output_lock_refuses_a_second_writer_and_takes_over_a_stale_one(capsys):
    from vlparse.core.errors import UsageError
    from vlparse.run.remote import OutputLock, url_to_fs

    a, b = OutputLock("memory://locktest/out"), OutputLock("memory://locktest/out")
    a.acquire()
    with pytest.raises(UsageError, match="another vlparse run is writing"):
        b.acquire()
    a._stop.set()  # the first run died: no more heartbeats, and its last one is old
    fs, path = url_to_fs(a.url)
    fs.pipe_file(path, json.dumps({"run": a.token, "heartbeat": time.time() - 3600}).encode())
    b.acquire()
    assert json.loads(fs.cat_file(path))["run"] == b.token
    b.release()
    assert not fs.exists(path)


# -- a real Ray cluster ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def moto_s3():
    """An S3-compatible server on 127.0.0.1 (moto), with credentials in the environment."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    port = _free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory, moto_s3):
    """A Ray head on 127.0.0.1 with 2 CPUs and a capped object store; its workers see the test gate and S3."""
    gate = tmp_path_factory.mktemp("ray-gate")
    port = _free_port()
    # keep every Ray address on the loopback: without this, Ray swaps 127.0.0.1 for the machine's own address
    old_loopback = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_bin = Path(sys.executable).parent / "ray"
    env = {**os.environ, **moto_s3, "VLPARSE_RAY_TEST_GATE": str(gate), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled",  # a loopback test cluster: no token (real clusters: see the README)
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([str(ray_bin), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={port}", "--num-cpus=2", "--num-gpus=0",
                             f"--object-store-memory={256 * 1024 * 1024}", "--include-dashboard=false",
                             "--disable-usage-stats"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        _wait_until_up(address, proc)
        yield {"address": address, "gate": gate}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if old_loopback is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = old_loopback


def _wait_until_up(address: str, proc) -> None:
    host, port = address.split(":")
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, "ray start exited"
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    probe = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address='{address}'); "
                            "print(ray.cluster_resources().get('CPU'))"], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and "2.0" in probe.stdout, probe.stderr[-2000:]


@pytest.fixture
def gate(ray_cluster):
    """The cluster's model-stage gate: ``gate(n)`` lets n more batches through."""
    g: Path = ray_cluster["gate"]
    for f in g.iterdir():
        f.unlink()

    def allow(n: int) -> None:
        (g / "budget.tmp").write_text(str(n))
        os.replace(g / "budget.tmp", g / "budget")

    allow(10_000)
    yield allow
    allow(10_000)


def _vlparse(*args: str) -> list[str]:
    return [sys.executable, "-m", "vlparse", *args]


def _compare_runs(local: Path, on_ray: Path) -> None:
    """Exports byte for byte; page records hold the same results; the manifest names the same pages."""
    exports = sorted(p.name for p in local.iterdir() if p.is_file() and p.name != "manifest.jsonl")
    assert exports and exports == sorted(p.name for p in on_ray.iterdir() if p.is_file() and p.name != "manifest.jsonl")
    for name in exports:
        assert (local / name).read_bytes() == (on_ray / name).read_bytes(), name
    records = sorted(p.relative_to(local) for p in (local / ".vlparse").rglob("page-*.json"))
    assert records and records == sorted(p.relative_to(on_ray) for p in (on_ray / ".vlparse").rglob("page-*.json"))
    for rel in records:
        a, b = json.loads((local / rel).read_text()), json.loads((on_ray / rel).read_text())
        assert a["fingerprint"] == b["fingerprint"] and a["result"] == b["result"], rel

    def pages(d):
        return sorted((x["source"], x["page"], x["status"]) for x in map(json.loads, (d / "manifest.jsonl").open()))

    assert pages(local) == pages(on_ray)


@needs_ray
def test_ray_run_equals_local_run_byte_for_byte(cli, tmp_path, ray_cluster, gate):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    args = [str(SAMPLE), *RECORDED, "--json", "--md", "--html", "--hocr", "--alto"]
    r = cli("doc", *args, "-o", str(local))
    assert r.exit_code == 0, r.stderr
    r = cli("doc", *args, "-o", str(on_ray), "--ray", ray_cluster["address"])
    assert r.exit_code == 0, r.stderr
    assert "examples/sample.pdf: 2 page(s)" in r.stderr or "sample.pdf: 2 page(s)" in r.stderr
    _compare_runs(local, on_ray)
    rec = json.loads(next((on_ray / ".vlparse").rglob("page-0001.json")).read_text())
    assert rec["input"]["size"] == SAMPLE.stat().st_size  # the input's identity is part of the record
    r = cli("doc", *args, "-o", str(on_ray), "--ray", ray_cluster["address"])
    assert r.exit_code == 0 and "2 already done" in r.stderr


@needs_ray
def test_ground_on_ray_equals_local(cli, tmp_path, ray_cluster, gate):
    image = ROOT / "examples" / "shapes.png"
    args = [str(image), "red car", "--family", "qwen2.5-vl", "--from-output",
            str(ROOT / "examples/answers/qwen2.5-vl/shapes-ground.txt")]
    assert cli("ground", *args, "-o", str(tmp_path / "local/")).exit_code == 0
    r = cli("ground", *args, "-o", str(tmp_path / "ray/"), "--ray", ray_cluster["address"])
    assert r.exit_code == 0, r.stderr
    _compare_runs(tmp_path / "local", tmp_path / "ray")


def _answers(path: Path, pages: int, skip=()) -> Path:
    lines = [json.dumps({"page": p, "output": f'<html><body><p data-bbox="10 10 200 40">page {p}</p></body></html>'})
             for p in range(1, pages + 1) if p not in skip]
    path.write_text("\n".join(lines) + "\n")
    return path


def _long_job(tmp_path, address: str, pages: int = 6) -> tuple[list[str], Path]:
    pdf = make_pdf(tmp_path / "long.pdf", pages=pages)
    out = tmp_path / "out"
    cmd = _vlparse("doc", str(pdf), "-o", str(out), "--json", "--family", "qwen2.5-vl", "--from-output",
                   str(_answers(tmp_path / "answers.jsonl", pages)), "--batch-size", "1", "--ray", address)
    return cmd, out


def _manifest_pages(out: Path) -> list[int]:
    m = out / "manifest.jsonl"
    return [json.loads(x)["page"] for x in m.read_text().splitlines()] if m.exists() else []


def _wait(predicate, proc, what: str, limit: float = 240) -> None:
    deadline = time.time() + limit
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1][-3000:]}"
        assert time.time() < deadline, f"no {what} after {limit}s"
        time.sleep(0.05)


@needs_ray
def test_a_killed_model_worker_is_replaced_and_every_page_arrives_once(tmp_path, ray_cluster, gate):
    cmd, out = _long_job(tmp_path, ray_cluster["address"])
    g: Path = ray_cluster["gate"]
    gate(2)  # two batches (pages) pass, then the model worker waits at the gate with the third
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _manifest_pages(out) and any(g.glob("waiting-*")), proc, "a waiting model worker")
        waiting = next(g.glob("waiting-*"))
        pid = int(waiting.read_text() or waiting.name.split("-")[1])
        os.kill(pid, signal.SIGKILL)  # the actor holding a batch dies mid-run
        waiting.unlink()
        gate(10_000)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert sorted(_manifest_pages(out)) == list(range(1, 7))  # every page once
    doc = json.loads((out / "long.json").read_text())
    assert [p["page"] for p in doc["pages"]] == list(range(1, 7))
    assert all(p["status"] in ("ok", "suspect") for p in doc["pages"])  # made-up answers: suspect against the text layer


@needs_ray
def test_the_driver_killed_mid_run_resumes_with_the_same_command(tmp_path, ray_cluster, gate):
    cmd, out = _long_job(tmp_path, ray_cluster["address"])
    gate(2)
    g: Path = ray_cluster["gate"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _wait(lambda: _manifest_pages(out) and any(g.glob("waiting-*")), proc, "a finished page and a waiting worker")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = _manifest_pages(out)
    assert 1 <= len(first) <= 2, "the driver should have died mid-run"
    assert not (out / "long.json").exists()
    gate(10_000)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"{len(first)} already done" in p.stderr
    assert sorted(_manifest_pages(out)) == list(range(1, 7))  # each page logged once over both runs
    assert [x["page"] for x in json.loads((out / "long.json").read_text())["pages"]] == list(range(1, 7))


@needs_ray
def test_failed_pages_are_retried_on_the_next_run_unless_skipped(cli, tmp_path, ray_cluster, gate):
    pdf = make_pdf(tmp_path / "three.pdf", pages=3)
    out = tmp_path / "out"
    answers = _answers(tmp_path / "answers.jsonl", 3, skip=[2])  # no answer for page 2: it fails

    def run(*extra):
        return cli("doc", str(pdf), "-o", str(out), "--family", "qwen2.5-vl", "--from-output", str(answers),
                   "--ray", ray_cluster["address"], *extra)

    r = run()
    assert r.exit_code == 1 and "page 2" in r.stderr
    assert run("--skip-failed").exit_code == 0  # the failed page is kept as it is, nothing redone
    assert len(_manifest_pages(out)) == 3
    _answers(answers, 3)
    r = run()
    assert r.exit_code == 0, r.stderr[-2000:]
    assert "1 page(s) done, 2 already done" in r.stderr
    doc = json.loads((out / "three.json").read_text())
    assert [x["status"] for x in doc["pages"]] == ["suspect"] * 3  # done (made-up answers: suspect against the text layer)


@needs_ray
@pytest.mark.slow
def test_transformers_backend_in_an_actor_pool(tmp_path, ray_cluster, gate, tiny_models):
    pdf = make_pdf(tmp_path / "two.pdf", pages=2)
    out = tmp_path / "out"
    p = subprocess.run(_vlparse("doc", str(pdf), "-o", str(out), "--json", "--model", str(tiny_models["qwen2.5-vl"]),
                                "--max-new-tokens", "16", "--max-pixels", "150000", "--retries", "0",
                                "--batch-size", "1", "--ray", ray_cluster["address"], "--ray-workers", "1"),
                       capture_output=True, text=True, timeout=400)
    assert p.returncode in (0, 1), p.stderr[-3000:]  # random weights: pages may fail to parse, never crash
    assert sorted(_manifest_pages(out)) == [1, 2]
    doc = json.loads((out / "two.json").read_text())
    assert doc["model"] == str(tiny_models["qwen2.5-vl"])
    assert all(pg["raw"] or pg.get("error") for pg in doc["pages"])


@needs_ray
def test_s3_inputs_and_outputs_on_a_moto_server(cli, tmp_path, ray_cluster, gate, moto_s3):
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vlp")
    s3.put_object(Bucket="vlp", Key="in/sample.pdf", Body=SAMPLE.read_bytes())
    cmd = ["doc", "s3://vlp/in/*.pdf", "-o", "s3://vlp/out", *RECORDED, "--md", "--json", "--ray",
           ray_cluster["address"]]
    r = cli(*cmd)
    assert r.exit_code == 0, r.stderr[-3000:]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="vlp", Prefix="out/")["Contents"]}
    assert {"out/sample.md", "out/sample.json", "out/manifest.jsonl"} <= keys
    assert "out/.vlparse/lock.json" not in keys
    records = sorted(k for k in keys if k.endswith(".json") and "/page-" in k)
    assert len(records) == 2
    rec = json.loads(s3.get_object(Bucket="vlp", Key=records[0])["Body"].read())
    etag = s3.head_object(Bucket="vlp", Key="in/sample.pdf")["ETag"].strip('"')
    assert rec["input"] == {"size": SAMPLE.stat().st_size, "etag": etag}
    assert rec["result"]["source"] == "s3://vlp/in/sample.pdf"
    local = tmp_path / "local"
    assert cli("doc", str(SAMPLE), "-o", str(local), *RECORDED, "--md").exit_code == 0
    assert s3.get_object(Bucket="vlp", Key="out/sample.md")["Body"].read() == (local / "sample.md").read_bytes()
    r = cli(*cmd)
    assert r.exit_code == 0 and "2 already done" in r.stderr
    # another version of the input (new ETag): its pages are done again
    s3.put_object(Bucket="vlp", Key="in/sample.pdf", Body=SAMPLE.read_bytes() + b"\n% changed\n")
    r = cli(*cmd)
    assert r.exit_code == 0 and "2 page(s) done" in r.stderr and "already done" not in r.stderr, r.stderr
    manifest = s3.get_object(Bucket="vlp", Key="out/manifest.jsonl")["Body"].read().decode().splitlines()
    assert len(manifest) == 4


@needs_ray
def test_s3_output_lock_uses_a_conditional_create(moto_s3):
    import boto3

    from vlparse.core.errors import UsageError
    from vlparse.run.remote import OutputLock

    boto3.client("s3").create_bucket(Bucket="vlplock")
    a, b = OutputLock("s3://vlplock/out"), OutputLock("s3://vlplock/out")
    a.acquire()
    try:
        with pytest.raises(UsageError, match="another vlparse run"):
            b.acquire()
    finally:
        a.release()
    b.acquire()
    b.release()


@needs_ray
def test_python_entry_point_dataset_of_inputs_to_page_results(ray_cluster, gate):
    from vlparse.backends.factory import BackendOptions
    from vlparse.integrations.ray import RaySettings, make_spec, process, results

    import ray

    spec = make_spec("doc", BackendOptions(family="qwen2.5-vl", from_output=str(ANSWERS)))
    ray.init(address=ray_cluster["address"], include_dashboard=False, log_to_driver=False)
    try:
        ds = ray.data.from_items([{"source": str(SAMPLE)}])
        pages = sorted(results(process(ds, spec, RaySettings(model_workers=1))), key=lambda r: r.info.page)
    finally:
        ray.shutdown()
    assert [(p.info.page, p.status) for p in pages] == [(1, "ok"), (2, "ok")]
    assert pages[0].blocks[0].bbox_pt is not None


@needs_ray
def test_memory_urls_are_refused_with_ray(cli, tmp_path):
    r = cli("doc", str(SAMPLE), "-o", "memory://x/out", *RECORDED, "--ray", "127.0.0.1:1")  # refused before connecting
    assert r.exit_code == 2 and "memory:// lives inside one process" in r.stderr


def _readme_line(prefix: str) -> str:
    import re

    text = (ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    matches = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(prefix)]
    assert matches, f"the README has no line starting with {prefix!r}"
    return re.sub(r"\s+#.*$", "", matches[0])


@needs_ray
def test_the_readme_ray_commands(tmp_path, ray_cluster, gate):
    """The README's two Ray runs, as written: a local Ray for the run, then the loopback cluster's address."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    local = _readme_line("vlparse doc examples/sample.pdf -o out-ray/ --json --md")
    assert local.endswith("--ray local")
    on_cluster = [ln for ln in (ROOT / "README.md").read_text().splitlines()
                  if ln.startswith("vlparse doc examples/sample.pdf -o out-ray/") and "--ray 127.0.0.1:6379" in ln]
    assert on_cluster, "the README shows a run on the loopback cluster"
    p = subprocess.run(local, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert [ln for ln in p.stderr.splitlines() if ln.strip()] == [
        "examples/sample.pdf: 2 page(s)", p.stderr.strip().splitlines()[-1]]  # Ray itself prints nothing
    assert "Quarterly Report: Third Quarter" in (tmp_path / "out-ray" / "sample.md").read_text()
    cmd = on_cluster[0].replace("127.0.0.1:6379", ray_cluster["address"])
    p = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0 and "2 already done" in p.stderr, p.stderr[-3000:]


@needs_ray
def test_openai_backend_against_a_server_from_ray_workers(cli, tmp_path, ray_cluster, gate):
    """The model stage as clients of an OpenAI-compatible server (tests/fake_openai_server.py on 127.0.0.1)."""
    from fake_openai_server import FakeOpenAIServer

    pdf = make_pdf(tmp_path / "three.pdf", pages=3)
    html = '<html><body><p data-bbox="10 10 200 40">served</p></body></html>'
    with FakeOpenAIServer(lambda req: html) as srv:
        r = cli("doc", str(pdf), "-o", str(tmp_path / "out"), "--backend", "openai", "--base-url", srv.url,
                "--ray", ray_cluster["address"], "--ray-workers", "2")
        served = len(srv.chat_requests)
    assert r.exit_code == 0, r.stderr[-3000:]
    assert served == 3
    doc = json.loads((tmp_path / "out" / "three.json").read_text())
    assert [pg["blocks"][0]["text"] for pg in doc["pages"]] == ["served"] * 3
    assert doc["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"


@needs_ray
def test_a_server_that_goes_away_is_one_line_and_exit_5(cli, tmp_path, ray_cluster, gate):
    """The workers' own error reaches the user (not Ray's traceback): an unreachable server exits 5."""
    r = cli("doc", str(SAMPLE), "-o", str(tmp_path / "out"), "--backend", "openai", "--base-url",
            f"http://127.0.0.1:{_free_port()}/v1", "--family", "qwen2.5-vl", "--api-model", "m",
            "--ray", ray_cluster["address"])
    assert r.exit_code == 5, r.stderr[-3000:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("vlparse: error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]


@needs_ray
def test_model_workers_that_leave_no_cpu_for_rendering_are_refused(cli, tmp_path, ray_cluster, gate, tiny_models):
    """2 transformers workers at 1 CPU each on a 2-CPU cluster would wait forever for a render task: one line."""
    r = cli("doc", str(SAMPLE), "-o", str(tmp_path / "out"), "--model", str(tiny_models["qwen2.5-vl"]),
            "--ray", ray_cluster["address"], "--ray-workers", "2")
    assert r.exit_code == 2
    assert "leave none for rendering and parsing" in r.stderr
