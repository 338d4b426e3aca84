"""Memory does not grow: 1,000 sessions created and destroyed, 10,000 inferences.

Measured as resident set size (/proc/self/statm) in a fresh interpreter, so that nothing else in
the test run moves it. Growth is judged between two equal later windows, after a warm-up that
lets ONNX Runtime's and malloc's caches settle: a leak of even a few hundred bytes per iteration
shows up as growth proportional to the window, whereas settled caches do not move. A control run
that deliberately keeps 2 KiB per iteration proves the measurement sees a leak of that size.
(The C++ side is also checked by LeakSanitizer in `make test-sanitize`.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import gc, json, os, sys
import numpy as np
import normdeploy
from normdeploy import runtime
from normdeploy.graphs import single_op_model

mode, warmup, window, leak_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
page = os.sysconf("SC_PAGE_SIZE")

def rss():
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page

gn = single_op_model("GroupNorm", ["N", 16, "L"], "float32", {"num_groups": 4, "activation": "silu"},
                     extra_inputs=[("scale", [16], "float32"), ("bias", [16], "float32")])
ln = single_op_model("LocalResponseNorm", ["N", 8, "L"], "float16", {"size": 3})
gn_bytes, ln_bytes = gn.SerializeToString(), ln.SerializeToString()
rng = np.random.default_rng(0)
gn_feeds = {"X": rng.standard_normal((2, 16, 50)).astype(np.float32),
            "scale": np.ones(16, np.float32), "bias": np.zeros(16, np.float32)}
ln_feeds = {"X": rng.standard_normal((2, 8, 30)).astype(np.float16)}
kept = []

def step_sessions():
    for model, feeds in ((gn_bytes, gn_feeds), (ln_bytes, ln_feeds)):
        sess = normdeploy.make_session(model, intra_op_threads=1)
        runtime.run_arrays(sess, feeds)
        del sess

sess_gn = normdeploy.make_session(gn_bytes, intra_op_threads=2, allow_spinning=False)
sess_ln = normdeploy.make_session(ln_bytes, intra_op_threads=2, allow_spinning=False)
def step_runs():
    runtime.run_arrays(sess_gn, gn_feeds)
    runtime.run_arrays(sess_ln, ln_feeds)

step = step_sessions if mode == "sessions" else step_runs
for _ in range(warmup):
    step()
marks = [rss()]
for _ in range(2):
    for _ in range(window):
        step()
        if leak_bytes:
            kept.append(bytearray(leak_bytes))
    marks.append(rss())
print(json.dumps({"marks": marks}))
"""


def _measure(mode: str, warmup: int, window: int, leak_bytes: int = 0) -> list[int]:
    # -P: import the installed package, not the source folder this may run from
    proc = subprocess.run([sys.executable, "-P", "-c", SCRIPT, mode, str(warmup), str(window), str(leak_bytes)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["marks"]


# Two windows of 500 iterations, each creating 2 sessions: 2,000 sessions created and destroyed
# after 200 warm-up ones; 2 x 2,500 x 2 = 10,000 inferences after 1,000 warm-up ones.
CASES = {"sessions": (100, 500), "runs": (500, 2500)}
LIMIT = 256 * 1024  # bytes the second window may add: 256 B per session (1,000), 51 B per run (5,000)


@pytest.mark.parametrize("mode", list(CASES))
def test_memory_does_not_grow(mode: str) -> None:
    warmup, window = CASES[mode]
    marks = _measure(mode, warmup, window)
    growth = marks[2] - marks[1]
    total = marks[2] - marks[0]
    assert growth <= LIMIT, (
        f"{mode}: RSS grew {growth / 1024:.0f} KiB over the last {window} iterations "
        f"({total / 1024:.0f} KiB over both windows; marks {marks})")


def test_the_measurement_sees_a_small_leak() -> None:
    warmup, window = CASES["sessions"]
    marks = _measure("sessions", warmup, window, leak_bytes=2048)
    growth = marks[2] - marks[1]
    assert growth > LIMIT, f"a 2 KiB-per-iteration leak ({window * 2} KiB) went unseen: marks {marks}"
