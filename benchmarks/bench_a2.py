"""Double attention vs non-local: forward latency at 56x56 and how both scale with the number of positions.

One run compares, on the same input (batch 2, 256 channels, 56x56 positions):
a double attention block with m = n = 64 and a non-local block with 128 inner
channels built on ``torch.nn.functional.scaled_dot_product_attention``. It prints
the speed-up (goal: >= 20x on a 2-core CPU), each block's achieved GFLOP/s beside
this machine's matrix-multiply GFLOP/s, and with ``--scaling`` the fitted log-log
latency slopes against positions from 14x14 to 112x112 (goal: A^2 <= 1.2,
non-local near 2). Timings on a shared machine are inflated by whoever else runs; there, use
``--threads 1``: with two threads every small operation waits whenever another process holds a
core, and the double attention block (many small operations) suffers far more than the non-local
block (one large attention kernel).

    .venv/bin/python benchmarks/bench_a2.py [--scaling] [--threads N] [--device cuda]
"""

from __future__ import annotations

import argparse

import torch

from attnlib.a2net_bench import compare_blocks, scaling_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaling", action="store_true", help="also sweep 14x14 .. 112x112 positions")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads")
    r = compare_blocks(repeats=args.repeats, device=args.device)
    print("batch 2, C = 256, 56x56 positions; A^2 m = n = 64; non-local inner 128 (SDPA)")
    print(
        f"A^2       forward {r['a2_s'] * 1e3:8.2f} ms  {r['a2_flops'] / 1e9:6.2f} GFLOP  {r['a2_gflops']:6.1f} GFLOP/s"
    )
    print(
        f"non-local forward {r['nl_s'] * 1e3:8.2f} ms  {r['nl_flops'] / 1e9:6.2f} GFLOP  {r['nl_gflops']:6.1f} GFLOP/s"
    )
    print(f"matmul (1024^2)                                   {r['matmul_gflops']:6.1f} GFLOP/s")
    verdict = "goal met" if r["speedup"] >= 20 else "goal NOT met"
    print(f"speed-up non-local / A^2: {r['speedup']:.1f}x (goal >= 20x: {verdict})")
    print(f"FLOP ratio non-local / A^2: {r['nl_flops'] / r['a2_flops']:.1f}x")
    if args.scaling:
        s = scaling_sweep(device=args.device)
        print("positions   A^2 ms   non-local ms   A^2 MB saved   non-local MB saved")
        for i, L in enumerate(s["positions"]):
            print(
                f"{L:9d} {s['a2_s'][i] * 1e3:8.2f} {s['nl_s'][i] * 1e3:14.2f}"
                f" {s['a2_bytes'][i] / 2**20:14.1f} {s['nl_bytes'][i] / 2**20:20.1f}"
            )
        print(f"latency slope A^2 {s['a2_slope']:.2f} (goal <= 1.2), non-local {s['nl_slope']:.2f} (goal ~2)")
        print(f"memory slope A^2 {s['a2_mem_slope']:.2f}, non-local {s['nl_mem_slope']:.2f}")


if __name__ == "__main__":
    main()
