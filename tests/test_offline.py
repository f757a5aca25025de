"""The offline guarantee: under `make test` nothing reaches beyond the loopback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

GUARD = Path(__file__).with_name("offline_guard")


def test_subprocesses_and_kernels_cannot_reach_the_internet():
    env = {**os.environ, "PYTHONPATH": str(GUARD), "ATTNLIB_BLOCK_NETWORK": "1"}
    code = "import urllib.request\ntry:\n    urllib.request.urlopen('http://example.com', timeout=5)\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60).stdout
    assert "blocked in the test run" in out


def test_loopback_stays_open():
    env = {**os.environ, "PYTHONPATH": str(GUARD), "ATTNLIB_BLOCK_NETWORK": "1"}
    code = (
        "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
        "c = socket.create_connection(s.getsockname(), timeout=5); print('ok'); c.close(); s.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.skipif(os.environ.get("ATTNLIB_BLOCK_NETWORK") != "1", reason="only under `make test`")
def test_this_process_is_guarded_too():
    import socket

    with pytest.raises(Exception, match="blocked|Socket"):
        socket.create_connection(("93.184.215.14", 80), timeout=5)


def test_importing_every_module_opens_no_connection():
    env = {**os.environ, "PYTHONPATH": str(GUARD), "ATTNLIB_BLOCK_NETWORK": "1"}
    code = "import attnlib, pkgutil, importlib\nfor m in pkgutil.walk_packages(attnlib.__path__, 'attnlib.'):\n    importlib.import_module(m.name)\nprint('ok')"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith("ok"), out.stderr[-2000:]
