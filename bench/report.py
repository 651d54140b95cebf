"""The suite's outputs: one JSON file with every figure, and Markdown tables."""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.losses import geomean

CHECKS_AIM = 1.15  # "full" over "off" (check section) and "full" over "shapes" at 1e5 elements
# ours ("shapes" mode) / peer, by the kind of peer, at each size: the issue's targets
TIME_TARGETS = {
    "native": {"small": 1.10, "medium": 1.05, "large": 1.05},
    "library": {"medium": 1.0, "large": 1.0},
    "formula": {"medium": 1.0, "large": 1.0},
}
MEMORY_SIZES = {"library": ("medium", "large")}  # peak ours <= peak peer (1% or 4 KiB slack)
LCE_TIME_TARGET = 1.05  # linear_cross_entropy / the bare matrix products
LCE_MEMORY_TARGET = 1.25  # its extra peak / the gradient buffers it must return
FUSED_TIME_TARGET = 1.10  # the other fused heads / the bare products of their naive formula
KIND_NAMES = {
    "native": "PyTorch native",
    "library": "another library",
    "formula": "the docstring's formula in plain torch",
}


def _x(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _ms(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s * 1e3:.3g}"


def kind(entry: dict[str, Any]) -> str | None:
    if "kind" in entry:
        return entry["kind"]  # type: ignore[no-any-return]
    native = entry.get("native")  # results written before the kinds
    return None if native is None or not entry.get("peer") else ("native" if native else "library")


def misses(entry: dict[str, Any]) -> list[str] | None:
    """The targets a loss misses (``"time medium"``, ``"mem large"``), None without a peer."""
    k = kind(entry)
    if k is None:
        return None
    fails = []
    measured = [s for s in TIME_TARGETS[k] if s in entry["sizes"]]
    if not measured:
        return None  # none of the sizes the targets name was run (--quick)
    for size in measured:
        limit = TIME_TARGETS[k][size]
        row = entry["sizes"][size]
        ratio = row.get("shapes_time_ratio", row.get("time_ratio"))
        if ratio is None:
            fails.append(f"{'peer error' if 'peer_error' in row else 'error'} {size}")
        elif ratio > limit:
            fails.append(f"time {size}")
    for size in MEMORY_SIZES.get(k, ()):
        row = entry["sizes"].get(size, {})
        if "peer_peak_bytes" in row and (
            row["ours_peak_bytes"] > 1.01 * row["peer_peak_bytes"] + 4096
        ):
            fails.append(f"mem {size}")
    return fails


def target_met(entry: dict[str, Any]) -> str:
    """ "✓" when the time (and, against a library, memory) targets hold, else what fails."""
    fails = misses(entry)
    if fails is None:
        return "no peer" if kind(entry) is None else "not at these sizes"
    return "✓" if not fails else "✗ " + ", ".join(fails)


def losses_table(entries: list[dict[str, Any]], sizes: list[str]) -> str:
    head = (
        "| loss | peer | "
        + " | ".join(f"shapes / peer {s} | full / peer {s}" for s in sizes)
        + " | "
        + " | ".join(f"peak mem ours/peer {s}" for s in sizes)
        + f" | ours ms ({sizes[-1]}) | same value | target |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for e in entries:
        rows = [e["sizes"].get(s, {}) for s in sizes]
        diffs = [r["value_rel_diff"] for r in rows if "value_rel_diff" in r]
        same = "–" if not diffs else ("yes" if max(diffs) < 1e-4 else f"no ({max(diffs):.1e})")
        peer = e["peer"] or "–"
        if kind(e) in ("native", "formula"):
            peer += f" ({kind(e)})"
        lines.append(
            f"| {e['loss']} | {peer} | "
            + " | ".join(
                f"{_x(r.get('shapes_time_ratio'))} | {_x(r.get('time_ratio'))}" for r in rows
            )
            + " | "
            + " | ".join(_x(r.get("memory_ratio")) for r in rows)
            + f" | {_ms(rows[-1].get('ours_s'))} | {same} | {target_met(e)} |"
        )
    return "\n".join(lines)


def summary(entries: list[dict[str, Any]], sizes: list[str]) -> str:
    out = []
    for k, title in KIND_NAMES.items():
        group = [e for e in entries if kind(e) == k]
        if not group:
            continue
        met = sum(target_met(e) == "✓" for e in group)
        means = []
        for key, mode in (("shapes_time_ratio", "shapes"), ("time_ratio", "full")):
            per_size = {
                s: geomean([e["sizes"][s][key] for e in group if key in e["sizes"].get(s, {})])
                for s in sizes
            }
            means.append(f"{mode} " + ", ".join(f"{s} {v:.2f}" for s, v in per_size.items()))
        out.append(
            f"- against {title}: {met} of {len(group)} losses meet the target; geometric mean "
            f"of time ours/peer: {'; '.join(means)}"
        )
    no_peer = [e["loss"] for e in entries if kind(e) is None]
    if no_peer:
        out.append(f"- no peer (not timed against anything) ({len(no_peer)}): {', '.join(no_peer)}")
    return "\n".join(out)


def _limits(k: str) -> str:
    sizes = TIME_TARGETS[k]
    if len(set(sizes.values())) == 1:
        text = f"<= {next(iter(sizes.values())):.2f}x at {' and '.join(sizes)}"
    else:
        text = ", ".join(f"<= {v:.2f}x {s}" for s, v in sizes.items())
    if k in MEMORY_SIZES:
        text += f", peak memory <= the peer's at {' and '.join(MEMORY_SIZES[k])}"
    return text


def targets(result: dict[str, Any]) -> str:
    """One line per target of the speed issue with the count that meets it: the last lines."""
    lines = []
    entries = result.get("losses", [])
    for k, title in KIND_NAMES.items():
        group = [e for e in entries if kind(e) == k and misses(e) is not None]
        if not group:
            continue
        missed = [f"{e['loss']} ({', '.join(misses(e) or [])})" for e in group if misses(e)]
        lines.append(
            f'- target, against {title} ("shapes" mode {_limits(k)}): '
            f"{len(group) - len(missed)} of {len(group)} meet it"
            + (f"; missed: {'; '.join(missed)}" if missed else "")
        )
    at = [
        (e["loss"], e["sizes"]["medium"]["full_over_shapes"])
        for e in entries
        if "full_over_shapes" in e["sizes"].get("medium", {})
    ]
    if at:
        over = [f"{n} {r:.2f}" for n, r in at if r > CHECKS_AIM]
        lines.append(
            f'- target, default "full" mode within {CHECKS_AIM}x of "shapes" at 1e5 elements: '
            f"{len(at) - len(over)} of {len(at)} meet it"
            + (f"; above: {', '.join(over)}" if over else "")
        )
    for shape, r in result.get("lce", {}).items():
        floor = r.get("ratios", {}).get("time_vs_matmul_floor")
        ours = r["variants"].get("losskit", {})
        extra = ours.get("peak_bytes")
        if floor is None or extra is None:
            continue
        mem = extra / r["gradient_bytes"]
        ok = int(floor <= LCE_TIME_TARGET) + int(mem <= LCE_MEMORY_TARGET)
        lines.append(
            f"- target, linear_cross_entropy {shape}: time / bare products {floor:.2f} "
            f"(<= {LCE_TIME_TARGET}), extra peak / gradient buffers {mem:.2f} "
            f"(<= {LCE_MEMORY_TARGET}): {ok} of 2 met"
        )
        for case, c in r.get("fused", {}).items():
            q = c["ratios"]
            ok = int(q["time_vs_matmul_floor"] <= FUSED_TIME_TARGET) + int(
                q["peak_over_gradients"] <= LCE_MEMORY_TARGET
            )
            lines.append(
                f"- target, {case} {shape}: time / bare products "
                f"{q['time_vs_matmul_floor']:.2f} (<= {FUSED_TIME_TARGET}), peak / gradient "
                f"buffers {q['peak_over_gradients']:.2f} (<= {LCE_MEMORY_TARGET}): {ok} of 2 met"
            )
    return "\n".join(lines)


def _e(n: int) -> str:
    """1000 -> 1e3, 100000 -> 1e5 (sizes are powers of ten)."""
    return f"1e{round(math.log10(n))}"


def check_line(r: dict[str, Any]) -> str:
    """One progress line of the check section."""
    if "full_over_off" not in r:
        return str(r.get("error", "error"))
    return (
        f"full/off {r['full_over_off']:.2f}  shapes/off {r['shapes_over_off']:.2f}  "
        f"off/off {r['off_again_over_off']:.2f}"
    )


def checks_table(rows: list[dict[str, Any]]) -> str:
    """One line per loss, the full / off and shapes / off ratios, the A/A control and the "off"
    time at each size measured, sorted by the worst full / off; then, per size, how many losses
    are within the aim and how noisy the machine was."""
    good = [r for r in rows if "full_over_off" in r]
    failed = [f"{r['loss']} ({r.get('size', '?')}): {r['error']}" for r in rows if "error" in r]
    sizes = sorted({r["elements"] for r in good})
    by_loss: dict[str, dict[int, dict[str, Any]]] = {}
    for r in good:
        by_loss.setdefault(r["loss"], {})[r["elements"]] = r
    head = "| loss |" + "".join(
        f" full / off {_e(n)} | shapes / off {_e(n)} | off / off {_e(n)} | off ms {_e(n)} |"
        for n in sizes
    )
    lines = [head, "|---|" + "---|---|---|---|" * len(sizes)]

    def worst(loss: str) -> float:
        return -max(r["full_over_off"] for r in by_loss[loss].values())

    for loss in sorted(by_loss, key=worst):
        cells = []
        for n in sizes:
            r = by_loss[loss].get(n)
            cells.append(
                f" {_x(r['full_over_off'])} | {_x(r['shapes_over_off'])} | "
                f"{_x(r['off_again_over_off'])} | {_ms(r['off_s'])} |"
                if r
                else " – | – | – | – |"
            )
        lines.append(f"| {loss} |" + "".join(cells))
    if good:
        geo = ["| **geometric mean** |"]
        for n in sizes:
            at = [r for r in good if r["elements"] == n]
            geo.append(
                f" **{geomean([r['full_over_off'] for r in at]):.2f}** | "
                f"**{geomean([r['shapes_over_off'] for r in at]):.2f}** | "
                f"**{geomean([r['off_again_over_off'] for r in at]):.2f}** | |"
            )
        lines += ["".join(geo), ""]
    rounds = sorted({int(r["rounds"]) for r in good if r.get("rounds")})
    if rounds:
        lines.append(f"- medians of {', '.join(map(str, rounds))} interleaved rounds per ratio")
    for n in sizes:
        at = [r for r in good if r["elements"] == n]
        over = [
            f"{r['loss']} {r['full_over_off']:.2f}" for r in at if r["full_over_off"] > CHECKS_AIM
        ]
        spread = sorted(abs(r["off_again_over_off"] - 1) for r in at)
        lines.append(
            f"- {_e(n)} elements: {len(at) - len(over)} of {len(at)} losses within the aim "
            f"(full / off <= {CHECKS_AIM})"
            + (f"; above it: {', '.join(over)}" if over else "")
            + f". A/A control (off / off, the same code twice): median distance from 1 "
            f"{statistics.median(spread):.2f}, largest {spread[-1]:.2f}; a full / off within "
            "that distance of 1 is not a measured cost"
        )
    if failed:
        lines.append("- not measured: " + "; ".join(failed))
    return "\n".join(lines)


def lce_table(runs: dict[str, dict[str, Any]]) -> str:
    lines = []
    for r in runs.values():
        s = r["shape"]
        lines.append(
            f"**N={s['N']}, D={s['D']}, V={s['V']}** (chunk {r['chunk_size']} rows; logits "
            f"{r['logits_bytes'] / 2**20:.0f} MiB; gradients {r['gradient_bytes'] / 2**20:.0f} "
            f"MiB; {r['threads']} threads; median of {r['rounds']} interleaved rounds, torch_chunked: "
            "one call)\n"
        )
        lines.append("| variant | median s | GFLOP/s (6NDV) | extra peak MiB | ours / this (time) "
                     "| ours / this (memory) |")  # fmt: skip
        lines.append("|---|---|---|---|---|---|")
        ours = r["variants"]["losskit"]
        for v, row in r["variants"].items():
            peak = row["peak_bytes"]
            lines.append(
                f"| {v} | {row['median_s']:.2f} | {row['gflops']:.1f} | "
                f"{'–' if peak is None else f'{peak / 2**20:.0f}'} | "
                f"{'' if v == 'losskit' else _x(ours['median_s'] / row['median_s'])} | "
                f"{'' if v == 'losskit' or not peak else _x(ours['peak_bytes'] / peak, 3)} |"
            )
        lines.append("")
    return "\n".join(lines)


def training_text(t: dict[str, Any]) -> str:
    if "pending" in t:
        return f"pending: {t['pending']}"
    return (
        f"`losskit.train.fit` ({t['model']} model, {t['loss']}, {t['n_train']} {t['data']} "
        f"images, batches of {t['batch_size']}, {t['threads']} thread): "
        f"{t['losskit_fit_s_per_epoch'] * 1e3:.2f} ms per epoch vs "
        f"{t['hand_written_s_per_epoch'] * 1e3:.2f} ms for the hand-written loop: "
        f"ratio **{t['ratio']:.2f}** (target <= 1.1)."
    )


def readme(result: dict[str, Any]) -> str:
    """The README's benchmark block: the date and command, the targets, then one compact row per
    loss ("shapes" / peer at each size, the default mode at the largest, the memory ratio)."""
    meta = result["meta"]
    sizes = meta["sizes"]
    head = (
        "| loss | peer | "
        + " | ".join(f"shapes / peer {s}" for s in sizes)
        + f" | full / peer {sizes[-1]} | peak mem ours/peer {sizes[-1]} | target |"
    )
    lines = [
        f"Latest full run: {meta['date']}, `{meta['command']}`, torch {meta['versions']['torch']}, "
        f"{meta['threads']} thread(s), {meta.get('device', 'cpu')}, {meta['cpu']}.",
        "",
        targets(result),
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for e in result.get("losses", []):
        if kind(e) is None:
            continue
        rows = [e["sizes"].get(s, {}) for s in sizes]
        peer = f"{e['peer']} ({kind(e)})" if kind(e) in ("native", "formula") else e["peer"]
        lines.append(
            f"| {e['loss']} | {peer} | "
            + " | ".join(_x(r.get("shapes_time_ratio")) for r in rows)
            + f" | {_x(rows[-1].get('time_ratio'))} | {_x(rows[-1].get('memory_ratio'))} | "
            f"{target_met(e)} |"
        )
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    parts = [
        "# losskit benchmark",
        "",
        f"{meta['date']}; torch {meta['versions']['torch']}, {meta['threads']} threads, "
        f"{meta['cpu']}; peers: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if k != "torch")
        + f"; `{meta['command']}`; device {meta.get('device', 'cpu')}. Forward + backward, fp32, "
        f'"shapes" and the default "full" check mode timed in the same interleaved rounds as the '
        f"peer, medians of {meta['rounds']} rounds of the paired ratios; peak = allocator bytes "
        "above the inputs (default mode).",
        "",
    ]
    if "losses" in result:
        sizes = meta["sizes"]
        parts += ["## Every loss against its peer", "", summary(result["losses"], sizes), ""]
        parts += [losses_table(result["losses"], sizes), ""]
        if result.get("missing"):
            parts += [f"Registered losses without a bench case: {', '.join(result['missing'])}", ""]
    if "check_modes" in result:
        parts += [
            "## Cost of the check modes",
            "",
            "Forward + backward in each mode on the loss's example inputs (`@register(example=)`), "
            f'from 1e5 elements up (the aim, not a gate: the default "full" within {CHECKS_AIM} '
            'of "off" at 1e5). "full" reads every constrained input whole on every call, so '
            "every call costs the same. A ratio is the median over the interleaved rounds of the "
            'two modes\' times in the same round; off / off times "off" twice (the noise of '
            "the machine).",
            "",
            checks_table(result["check_modes"]),
            "",
        ]
    if "lce" in result:
        parts += ["## linear_cross_entropy", "", lce_table(result["lce"]), ""]
        if any(r.get("fused") for r in result["lce"].values()):
            from bench.lce import fused_table

            parts += [
                "## The other fused heads (linear_log_probs, linear_distillation)",
                "",
                "Forward + backward against the naive formula on the materialised logits, at "
                "the same shapes; bare products: the matrix products of the naive formula "
                "(three per head, four for distillation).",
                "",
                fused_table(result["lce"]),
                "",
            ]
    if "training" in result:
        parts += ["## Training loop overhead", "", training_text(result["training"]), ""]
    lines = targets(result)
    if lines:
        parts += ["## Targets", "", lines, ""]
    return "\n".join(parts)
