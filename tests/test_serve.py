"""``reunite serve``: a real Uvicorn process on a free loopback port; refusing insecure settings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from workflow_world import make_world

REUNITE = [sys.executable, "-c", "from reunite.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REUNITE_")}
    env.update(REUNITE_DATABASE_URL=url, **extra)
    return env


def test_serve_answers_openapi_and_searches(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    world = make_world(url)
    token = world.token("analyst")
    world.engine.dispose()
    port = _free_port()
    proc = subprocess.Popen(REUNITE + ["serve", "--port", str(port)], env=_env(url, REUNITE_INDEX=str(
        tmp_path / "serve.index")), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"{base}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        assert r.status_code == 200
        paths = r.json()["paths"]
        assert "/api/v1/searches" in paths and "/api/v1/imports/{kind}" in paths
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/searches/pending", headers=auth).json() == {"families": 0, "unidentified": 0}
        assert httpx.get(f"{base}/imports").status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "/api/v1/docs" in out


def test_serve_refuses_production_with_default_secret(tmp_path):
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    make_world(url).engine.dispose()
    r = subprocess.run(REUNITE + ["serve", "--port", str(_free_port())], env=_env(url, REUNITE_ENV="production"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "REUNITE_SECRET_KEY" in r.stderr and "Traceback" not in r.stderr


def test_serve_refuses_a_missing_database(tmp_path):
    r = subprocess.run(REUNITE + ["serve", "--port", str(_free_port())],
                       env=_env(f"sqlite:///{tmp_path / 'none.db'}"), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert Path(tmp_path / "none.db").exists() is False
