"""An ``aivf build`` with workers killed by SIGKILL leaves no orphaned spawn worker (issue 14 item 9).

The build runs as a real subprocess on a small cohort of MP4s; once its workers are busy the parent is
killed, and every process it had started must be gone within a few seconds (each worker watches its
parent, ``aivf.dataset.build.watch_parent``). A rerun then completes the same dataset.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.dataset.conftest import FRAMES, write_video

ROOT = Path(__file__).resolve().parents[2]
EMBRYOS = 160  # rows over one shared video: enough shards that the build is still running when killed

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")


def children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by a container's init, does not count)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_build_leaves_no_worker_running(tmp_path):
    (tmp_path / "videos").mkdir()
    write_video(tmp_path / "videos" / "V.mp4", FRAMES, seed=1)
    rows = [{"embryo_id": f"P{i // 2:03d}-{i % 2}", "patient_id": f"P{i // 2:03d}", "clinic": f"C{(i // 2) % 2}",
             "recording": "videos/V.mp4", "transferred": 1, "transfer_day": 5, "d5_fhb": i % 2} for i in range(EMBRYOS)]
    pd.DataFrame(rows).to_csv(tmp_path / "clinical.csv", index=False)
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "aivf", "build", "-c", "configs/dataset/tiny.yaml", "--clinical",
           str(tmp_path / "clinical.csv"), "--out", str(out), "dataset.workers=2", "dataset.embryos_per_shard=1",
           "data.keyframes.size=32", "data.keyframes.num_keyframes=8", "data.keyframes.start_hpi=4"]
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started: list[int] = []
    parent = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and parent.poll() is None:  # wait until the workers have built something
            if len(list((out / "_state").glob("shard-*.json"))) >= 2:
                break
            time.sleep(0.2)
        assert parent.poll() is None, f"the build ended before it could be killed: {parent.stderr.read()[-2000:]!r}"
        started = children(parent.pid)
        assert len(started) >= 2, started  # the two spawn workers (and the resource tracker)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        killed_at = time.time()
        while time.time() - killed_at < 5 and any(alive(p) for p in started):
            time.sleep(0.1)
        survivors = [p for p in started if alive(p)]
        assert not survivors, f"worker(s) {survivors} outlived the killed build by more than 5 s"
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in [p for p in started if alive(p)]:  # never leave a stray process behind, whatever failed
            os.kill(pid, signal.SIGKILL)
    done = len(list((out / "_state").glob("shard-*.json")))
    assert 2 <= done < EMBRYOS  # killed part-way

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    report = pd.read_csv(out / "build_report.csv")
    assert sorted(report["embryo_id"]) == sorted(r["embryo_id"] for r in rows) and (report["status"] == "ok").all()
