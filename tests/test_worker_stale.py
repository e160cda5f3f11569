# SPDX-License-Identifier: BSD-3-Clause
"""Stale code: an edit of the package makes the warm worker refuse its clients and exit. In a module of
its own: the edit (a modification time) makes every worker of this tree stale, including the one
``test_worker.py`` shares among its tests."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from test_worker import REPO, SMALL, _request, environment, folder, run, start_worker, stop_worker


def test_a_stale_worker_is_refused_and_exits(tmp_path):
    """An edit of the package (a changed modification time is enough) changes the build key: the client
    does not reach the old worker, which refuses old-key requests and exits by itself."""
    runtime = Path(tempfile.mkdtemp(prefix="nbw", dir="/tmp"))
    env = environment(runtime)
    edited = REPO / "nbnumba" / "errors.py"
    times = os.stat(edited)
    try:
        start_worker(env)
        old = _request(env, "status")
        assert old is not None and old["jobs"] == 0
        cwd = folder(tmp_path, "stale")
        os.utime(edited, ns=(times.st_atime_ns, times.st_mtime_ns + 10**9))
        got = run(SMALL + ["-floatfile", "o.bin", "-nonoise", "-nopgm"], cwd, env)
        assert got.returncode == 0 and (cwd / "o.bin").exists() and got.stderr == b""
        code = ("import sys; from nbnumba.cli import client; s = client.connect(sys.argv[1]);\n"
                "if s is None: print('gone')\n"
                "else:\n"
                "    client.send_message(s, {'op': 'run', 'protocol': client.PROTOCOL, 'key': sys.argv[2],"
                " 'argv': [], 'cwd': '/', 'umask': 18, 'env': {}}, fds=(0, 1, 2))\n"
                "    print(client.receive_message(s))")
        reply = subprocess.run([sys.executable, "-c", code, old["socket"], old["key"]], env=env,
                               capture_output=True, text=True, timeout=60).stdout
        assert reply.strip() == "gone" or "stale" in reply
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists(old["socket"]):
            time.sleep(0.1)
        assert not os.path.exists(old["socket"])  # it exited by itself, unused
        assert _request(env, "status", old["socket"]) is None
    finally:
        os.utime(edited, ns=(times.st_atime_ns, times.st_mtime_ns))
        stop_worker(env)
        shutil.rmtree(runtime, ignore_errors=True)
