#!/usr/bin/env python3
"""Direct against relayed answers, paired: what a pipeline hop costs a decoding stream.

Starts three local clusters side by side (`tessera up`): one stage, three stages whose last
stage answers the gateway directly (the gateway's --answers direct, S + 1 messages per
token), and three stages whose answers go back up the chain (--answers relayed, 2S). Then,
round after round, one stream on each cluster in turn (the order rotates), so that all three
see the same moment of a noisy shared machine. Per cluster it prints the median decode time
per token over the rounds and the per-hop overhead, (median per-token time - the one-stage
cluster's) / (stages - 1), the relayed / direct ratio, and the paired difference: the
median over rounds of (relayed - direct) per token, and in how many rounds direct was faster.

    python3 scripts/bench/answers-bench.py [--bin .build-release/release] [--rounds 12] [--tokens 128]
"""
import argparse
import os
import pathlib
import statistics
import tempfile

from benchlib import ROOT, generate, start_pipeline_cluster, stop_cluster, stubs

PROMPT = "Write a short story about a lighthouse keeper and a storm."


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=str(ROOT / ".build-release" / "release"))
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--stages", type=int, default=3, choices=[2, 3])
    args = parser.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp())
    protos = stubs(tmp)
    gpb, grpcmod = protos[:2]
    configs = [("1 stage", 1, None), (f"{args.stages} stages, direct", args.stages, "direct"),
               (f"{args.stages} stages, relayed", args.stages, "relayed")]
    clusters = []
    try:
        for index, (name, stages, answers) in enumerate(configs):
            offset = 31000 + index * 100
            if answers:  # `tessera up` passes it on to the gateway
                os.environ["TESSERA_GATEWAY_ANSWERS"] = answers
            up = start_pipeline_cluster(args.bin, stages, offset, tmp / f"logs{index}", protos)
            clusters.append((name, stages, offset, up))
        per_token = {name: [] for name, *_ in clusters}
        for round_index in range(args.rounds):
            order = clusters[round_index % 3:] + clusters[:round_index % 3]
            for name, _, offset, _ in order:
                run = generate(gpb, grpcmod, 7400 + offset, PROMPT, args.tokens)
                per_token[name].append(1000 / run["decode_tps"])
            print(f"round {round_index + 1}: " + ", ".join(f"{n} {v[-1]:.2f} ms" for n, v in per_token.items()),
                  flush=True)
    finally:
        for *_, up in clusters:
            stop_cluster(up)
    base = statistics.median(per_token[clusters[0][0]])
    print(f"\n{'cluster':<22} {'ms/token (median)':>18} {'per hop ms':>11}")
    hops = {}
    for name, stages, _, _ in clusters:
        median = statistics.median(per_token[name])
        hop = (median - base) / (stages - 1) if stages > 1 else 0
        hops[name] = hop
        print(f"{name:<22} {median:18.2f} {hop:11.3f}")
    direct, relayed = hops[clusters[1][0]], hops[clusters[2][0]]
    print(f"\nper-hop overhead relayed / direct: {relayed / direct:.2f}x" if direct > 0 else
          "\nper-hop overhead direct: none measurable")
    # Paired: the same round's two streams saw the same moment of the machine.
    gaps = [r - d for d, r in zip(per_token[clusters[1][0]], per_token[clusters[2][0]])]
    print(f"paired, relayed - direct per token: median {statistics.median(gaps):.3f} ms, "
          f"direct faster in {sum(g > 0 for g in gaps)} of {len(gaps)} rounds")


if __name__ == "__main__":
    main()
