"""``python -m bench``: run the suite, print the tables, write ``latest.json``/``latest.md``.

python -m bench                  # everything (several minutes on 2 cores)
python -m bench --quick          # a smoke run in seconds (CI): tiny sizes, one round
python -m bench --sections losses --only dice,sigmoid_focal --sizes medium,large
python -m bench --sections lce   # linear_cross_entropy only
python -m bench --sections checks --threads 1   # the cost of the check modes, 1e5 and 1e6
python -m bench --device cuda --sections losses,lce --out bench/results/cuda   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

import losskit
from bench import cases, lce, losses, measure, peers, report, training

SECTIONS = ("losses", "checks", "lce", "train")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes, one round")
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"of {SECTIONS}")
    p.add_argument("--only", default="", help="comma-separated loss names (default: all)")
    p.add_argument("--sizes", default="", help="of small,medium,large (default: all)")
    p.add_argument("--rounds", type=int, default=0, help="interleaved rounds per figure")
    p.add_argument("--lce-shapes", default="", help=f"of {tuple(lce.SHAPES)}")
    p.add_argument("--lce-all", action="store_true", help="every LCE variant at every shape")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--out", default="", help="folder for latest.json / latest.md")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i]")
    p.add_argument("--report-from", default="", help="re-print the tables of a JSON result")
    p.add_argument("--readme", action="store_true", help="with --report-from: the README block")
    args = p.parse_args(argv)
    if args.report_from:
        loaded = json.loads(Path(args.report_from).read_text())
        if args.readme:
            print(report.readme(loaded))
            return 0
        text = report.markdown(loaded)
        print(text)
        if args.out:
            (Path(args.out) / "latest.md").write_text(text + "\n")
        return 0

    if args.threads:
        torch.set_num_threads(args.threads)
    device = measure.use_device(args.device)
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    sizes = [s for s in args.sizes.split(",") if s] or (
        ["small"] if args.quick else list(cases.SIZES)
    )
    rounds = args.rounds or (1 if args.quick else 5)
    target_s = 0.0 if args.quick else 0.02
    registered = [s.name for s in losskit.list_specs()]
    names = [n for n in args.only.split(",") if n] or registered
    missing_cases = losses.missing_cases()
    unknown_names = [n for n in names if n not in registered]
    if unknown_names:
        p.error(f"not registered losses: {unknown_names}")
    out_dir = Path(args.out) if args.out else (None if args.quick else Path("bench/results"))

    result: dict[str, Any] = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
            "versions": peers.versions(),
            "threads": torch.get_num_threads(),
            "device": str(device)
            + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
            "cpu": _cpu(),
            "sizes": sizes,
            "rounds": rounds,
        }
    }
    started = time.perf_counter()
    if missing_cases:
        print(f"registered losses without a bench case (timed without a peer; add them to "
              f"bench/cases.py): {', '.join(missing_cases)}", flush=True)  # fmt: skip
        result["missing"] = missing_cases
    section_s: dict[str, float] = {}
    result["meta"]["section_seconds"] = section_s
    if "losses" in sections:
        t0 = time.perf_counter()
        result["losses"] = []
        for name in names:
            entry = losses.bench_loss(name, sizes, rounds=rounds, target_s=target_s)
            result["losses"].append(entry)
            print(f"  {name:<30} {report.target_met(entry)}", flush=True)
        section_s["losses"] = round(time.perf_counter() - t0, 1)
    if "checks" in sections:
        t0 = time.perf_counter()
        # the target is stated from 1e5 elements up: medium and large unless --sizes says
        check_sizes = ["small"] if args.quick else [s for s in sizes if s != "small"]
        # a ratio near 1 needs more rounds than a ratio of two libraries to be read to 0.01
        check_rounds = args.rounds or (1 if args.quick else 25)
        result["check_modes"] = []
        for size in check_sizes:
            for n in names:
                r = losses.bench_check_modes(n, size, rounds=check_rounds, target_s=target_s)
                result["check_modes"].append(r)
                print(f"  checks {n:<30} {size:<7} {report.check_line(r)}", flush=True)
        section_s["checks"] = round(time.perf_counter() - t0, 1)
    if "lce" in sections:
        t0 = time.perf_counter()
        shapes = [s for s in args.lce_shapes.split(",") if s] or (
            ["quick"] if args.quick else ["lm", "vocab"]
        )
        result["lce"] = {}
        for shape in shapes:
            print(f"  linear_cross_entropy {shape} {lce.SHAPES[shape]} ...", flush=True)
            variants = {
                # torch_default is naive's maths; torch_chunked takes minutes here (--lce-all)
                "vocab": ["losskit", "naive"],
                "quick": ["losskit", "naive", "torch_default"],  # torch_chunked: 32-row chunks
            }.get(shape)
            if args.lce_all:
                variants = None
            lce_rounds = args.rounds or (1 if args.quick else (3 if shape == "lm" else 2))
            result["lce"][shape] = lce.run(shape, rounds=lce_rounds, variants=variants)
        section_s["lce"] = round(time.perf_counter() - t0, 1)
    if "train" in sections and device.type != "cpu":
        print("  train: CPU only (the MNIST loop); skipped on", device, flush=True)
    elif "train" in sections:
        result["training"] = training.run(
            epochs=1 if args.quick else 20, rounds=1 if args.quick else max(rounds, 9)
        )
    result["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    text = report.markdown(result)
    print(text)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
        (out_dir / "latest.md").write_text(text + "\n")
        print(f"wrote {out_dir / 'latest.json'} and {out_dir / 'latest.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
