"""Speed and memory of scratchgan against PyTorch CPU, measured in the same run.

    python -m benchmarks                       # W1-W4 and per-layer timings, every CPU backend
    python -m benchmarks --workloads W2 --backends numpy,numba --repeats 5
    python benchmarks/profile_w2.py            # where the W2 step spends its time, by op

``workloads`` defines the four GAN training steps once for both frameworks;
``harness`` times them (alternating repetitions, median and min-max), measures peak
memory in fresh subprocesses and prints the table; ``profile_w2`` breaks the W2 step
down by op. See docs/performance.md for the figures on the reference machine.
"""
