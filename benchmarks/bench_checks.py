"""Does the validation layer (issue 24) slow training down? One training step before and after, in one run.

The library as it was before the checks (git commit ``--before``, default the commit that added
``attnlib.checks``) is exported from git into a temporary folder. Each version then runs in its own
subprocess (``PYTHONPATH`` picks which ``attnlib`` is imported), with one torch thread, the same seeds and
the same data, and times the best of several repeats of:

* ``fit``, one epoch of 8 batches of 64 with the default classification step (a small CNN on MNIST): the
  loop's own per-batch checks (finite loss, label range);
* ``fit``, one epoch of 4 batches of 64 of chapter 2's RAM on 28x28 digits (``ram.ram_step``);
* one optimiser step of chapter 9's R^2AM on 32 x 96 word images (``R2AM.loss``), whose decoder now checks
  its token ids once per forward.

The versions alternate, so slow drifts of the machine hit both alike. It prints ``after / before`` per step;
1.00 means no change. Run it on an idle machine: ``python benchmarks/bench_checks.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
import torch
from torch import nn
torch.set_num_threads(1)
from attnlib import ram, train
from attnlib.data import load_mnist
from attnlib.r2am import R2AM
from attnlib.r2am.model import encode_words

def best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return min(times)

x, y = load_mnist("test")
x, y = x[:512], y[:512]
def loader(n):
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:n], y[:n]), batch_size=64)

torch.manual_seed(0)
cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(256, 10))
opt_cnn = torch.optim.SGD(cnn.parameters(), lr=0.01)
model = ram.RecurrentAttentionModel(glimpse_size=8, n_scales=3, n_glimpses=6, core="lstm")
opt_ram = torch.optim.Adam(model.parameters(), lr=1e-4)
ocr = R2AM()
opt_ocr = torch.optim.Adam(ocr.parameters(), lr=1e-4)
images = torch.rand(64, 1, 32, 96, generator=torch.Generator().manual_seed(0))
words = ["word", "attention", "glimpse", "read"] * 16
tokens = encode_words(words)

def ocr_step():
    loss, _ = ocr.loss(images, tokens)
    opt_ocr.zero_grad(); loss.backward(); opt_ocr.step()

repeats = int(sys.argv[1])
print(json.dumps({
    "fit, classification (8 batches)": best(lambda: train.fit(cnn, loader(512), opt_cnn, 1, progress=False), repeats),
    "fit, RAM 28x28 (4 batches)": best(lambda: train.fit(model, loader(256), opt_ram, 1, step=ram.ram_step, progress=False), repeats),
    "R2AM training step (batch 64)": best(ocr_step, repeats),
}))
"""


def export(commit: str, folder: Path) -> Path:
    """Write ``attnlib/`` as it was at ``commit`` into ``folder``; return ``folder``."""
    archive = folder / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", commit, "attnlib"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def measure(path: Path, repeats: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": "1", "ATTNLIB_PROGRESS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(repeats)], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="1a0f2a1", help="commit of the library before the checks")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of before/after")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per step and round (best kept)")
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be positive")
    with tempfile.TemporaryDirectory() as tmp:
        before_path = export(args.before, Path(tmp))
        best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
        for _ in range(args.rounds):
            for name, path in (("before", before_path), ("after", ROOT)):
                for step, seconds in measure(path, args.repeats).items():
                    best[name][step] = min(seconds, best[name].get(step, float("inf")))
    print(f"before = attnlib at {args.before}, after = the working tree; best of {args.rounds} x {args.repeats}")
    for step in best["after"]:
        b, a = best["before"][step], best["after"][step]
        print(f"{step:34s} before {1000 * b:8.1f} ms  after {1000 * a:8.1f} ms  after / before {a / b:5.2f}")


if __name__ == "__main__":
    main()
