#!/usr/bin/env python3
"""Two builds of Tessera, paired: what a change does to a decoding stream's time per token.

Starts a local cluster per build and stage count (`tessera up` from each build's directory):
by default one stage and three stages for each build, four clusters side by side. Then, round
after round, one greedy stream on each cluster in turn (the order rotates), so that both
builds see the same moment of a noisy shared machine. Half the rounds run on clusters started
base first, half on clusters started candidate first (the start order biases a cluster). Per cluster it prints the median decode
time per token and the per-hop figure, (median - the same build's one-stage median) /
(stages - 1); per stage count, the paired difference: the median over rounds of
(base - candidate) per token, and in how many rounds the candidate was faster.

    python3 scripts/bench/builds-bench.py --base /tmp/old-bin --candidate .build-release/release \
        [--stages 1,3] [--rounds 24] [--tokens 128]

A build directory holds the release executables (`tessera`, the services) and
`GRDB_GRDB.resources`. The verifier's replays are off (they would compete for the cores at
random moments): TESSERA_VERIFIER_NEW_WORKER_RATE=0 TESSERA_VERIFIER_TRUSTED_RATE=0.
"""
import argparse
import os
import pathlib
import statistics
import tempfile

from benchlib import generate, start_pipeline_cluster, stop_cluster, stubs

PROMPT = "Write a short story about a lighthouse keeper and a storm."


def measure(builds, order, stage_counts, rounds, tokens, protos, tmp):
    """`rounds` rounds over a cluster per build and stage count, started in `order` (build
    names); returns {(build, stages): [ms per token, one per round]}."""
    gpb, grpcmod = protos[:2]
    clusters = []  # (build, stages, offset, process)
    try:
        for stages in stage_counts:
            for build in order:
                offset = 33000 + len(clusters) * 100
                log_dir = tmp / f"logs-{build}-{stages}-{order[0]}"
                up = start_pipeline_cluster(builds[build], stages, offset, log_dir, protos)
                clusters.append((build, stages, offset, up))
        per_token = {(b, s): [] for b, s, *_ in clusters}
        for round_index in range(rounds):
            shift = round_index % len(clusters)
            for build, stages, offset, _ in clusters[shift:] + clusters[:shift]:
                run = generate(gpb, grpcmod, 7400 + offset, PROMPT, tokens)
                per_token[(build, stages)].append(1000 / run["decode_tps"])
            print(f"round {round_index + 1}: " + ", ".join(
                f"{b} {s} {v[-1]:.2f} ms" for (b, s), v in per_token.items()), flush=True)
        return per_token
    finally:
        for *_, up in clusters:
            stop_cluster(up)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the build to compare against")
    parser.add_argument("--candidate", required=True, help="the build with the change")
    parser.add_argument("--stages", default="1,3", help="stage counts, comma-separated (1 is always added)")
    parser.add_argument("--rounds", type=int, default=24, help="in all, half in each start order")
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    stage_counts = sorted({1, *(int(s) for s in args.stages.split(","))})
    os.environ.setdefault("TESSERA_VERIFIER_NEW_WORKER_RATE", "0")
    os.environ.setdefault("TESSERA_VERIFIER_TRUSTED_RATE", "0")
    tmp = pathlib.Path(tempfile.mkdtemp())
    protos = stubs(tmp)
    builds = {"base": args.base, "candidate": args.candidate}
    # Where a cluster stands in the start order biases it: the same build against itself
    # came out 0.45 ms per token faster in the second of two one-stage clusters (20 of 24
    # rounds). Half the rounds start the base first, half the candidate, and the figures
    # below pool both halves, so that bias cancels.
    per_token = {}
    for order, rounds in ((["base", "candidate"], (args.rounds + 1) // 2),
                          (["candidate", "base"], args.rounds // 2)):
        print(f"-- clusters started in the order {', '.join(order)}", flush=True)
        for key, values in measure(builds, order, stage_counts, rounds, args.tokens, protos, tmp).items():
            per_token.setdefault(key, []).extend(values)
    print(f"\n{'build':<10} {'stages':>6} {'ms/token (median)':>18} {'per hop ms':>11}")
    for build in builds:
        base = statistics.median(per_token[(build, 1)])
        for stages in stage_counts:
            median = statistics.median(per_token[(build, stages)])
            hop = f"{(median - base) / (stages - 1):11.3f}" if stages > 1 else f"{'':>11}"
            print(f"{build:<10} {stages:>6} {median:18.2f} {hop}")
    print()
    for stages in stage_counts:
        gaps = [b - c for b, c in zip(per_token[("base", stages)], per_token[("candidate", stages)])]
        print(f"{stages} stage(s), paired, base - candidate per token: median "
              f"{statistics.median(gaps):.3f} ms, candidate faster in {sum(g > 0 for g in gaps)} "
              f"of {len(gaps)} rounds")


if __name__ == "__main__":
    main()
