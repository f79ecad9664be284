"""GANLab's training overhead from drawing: steps per second with frames pushed vs none.

Both runs use the same widget code path (`GANLab.train`, the loop play runs on its thread):
`drawing off` sets interval_s to infinity (one frame at the end), `drawing on` pushes a frame at
most every 0.2 s (the default) or every `--interval` seconds. No browser is attached, so this is
the kernel-side cost: the frame's jitted program (points, surface, arrows), the mode coverage of
the frame's points and building the buffers. Each configuration trains `--steps` steps after a
warm-up, `--repeats` times, alternating; the table gives medians. Usage:

    python benchmarks/gan_lab_overhead.py [--steps 3000] [--repeats 5] [--interval 0.2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import jax

import jaxviz as jv


def steps_per_second(lab: jv.GANLab, steps: int, interval_s: float) -> tuple[float, int, float]:
    """Training rate, frames drawn, and the share of the run's time spent drawing them."""
    lab.interval_s = interval_s
    frames, drawing = lab.frames, 0.0
    draw = lab.draw

    def timed_draw() -> None:
        nonlocal drawing
        start = time.perf_counter()
        draw()
        drawing += time.perf_counter() - start

    lab.draw = timed_draw
    start = time.perf_counter()
    lab.train(steps)
    seconds = time.perf_counter() - start
    lab.draw = draw
    return steps / seconds, lab.frames - frames, drawing / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    lab = jv.GANLab()
    lab.train(200)  # compile the chunk and the frame programs
    off, on, frames, shares = [], [], [], []
    for _ in range(args.repeats):
        off.append(steps_per_second(lab, args.steps, math.inf)[0])
        rate, count, share = steps_per_second(lab, args.steps, args.interval)
        on.append(rate)
        frames.append(count)
        shares.append(share)
    # The cost of one frame, timed alone (robust on a busy machine, where run-to-run noise in
    # steps/s swamps a few percent): at most 1/interval frames per second are drawn.
    frame_ms = []
    for _ in range(20):
        start = time.perf_counter()
        lab.draw()
        frame_ms.append(1e3 * (time.perf_counter() - start))
    frame = statistics.median(frame_ms)
    off_median, on_median = statistics.median(off), statistics.median(on)
    print(f"jax {jax.__version__} on {jax.default_backend()}, {args.steps} steps x "
          f"{args.repeats} repeats, frame interval {args.interval} s")
    print(f"drawing off: {off_median:8.1f} steps/s  (runs: {', '.join(f'{r:.0f}' for r in off)})")
    print(f"drawing on:  {on_median:8.1f} steps/s  (runs: {', '.join(f'{r:.0f}' for r in on)}), "
          f"{statistics.median(frames):.0f} frames per run")
    print(f"one frame: {frame:.2f} ms (median of 20); time spent drawing while training: "
          f"{100 * statistics.median(shares):.1f}% (median run; the budget is 3%)")
    print(f"ratio on/off: {on_median / off_median:.3f}  "
          f"(training time lost to drawing: {100 * (1 - on_median / off_median):.1f}%)")


if __name__ == "__main__":
    main()
