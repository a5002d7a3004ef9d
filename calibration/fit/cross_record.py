"""What a cross-setup fit says: `advisor fit`'s lines and the report's section, from provenance.cross_setup
(calibration/fit/cross_setup.py), leave one setup out included."""
from __future__ import annotations

INPUT_NAMES = {"n_params": "N", "tokens": "D", "flops": "C"}
LAW_NAMES = {"lr": "LR", "batch": "batch"}
MODES = (("unanchored", "without any of its cells"), ("anchored", "anchored on its smallest size"))


def _own(rec: dict, s: dict) -> str:
    return ", ".join(f"{INPUT_NAMES.get(n, n)} {s['log_coef'][1 + j]:+.2f}" for j, n in enumerate(rec["inputs"]))


def _score(sc: dict | None) -> str:
    if not sc:
        return "not measurable (too few cells)"
    return (f"median |log2| {sc['median_abs_log2']:.2f} ({sc['median_abs_log2_tol']:.2f} within half a step), "
            f"bias {sc['mean_log2']:+.2f}, inside 90% {sc['inside']}/{sc['n']}, median width {_width(sc['median_width'])}")


def _width(w: float) -> str:
    return f"{w:.3g}×" if w < 1e4 else f"{w:.1e}×"


def summary_lines(cross: dict) -> list[str]:
    """`advisor fit`'s lines about a cross-setup fit."""
    if cross.get("mode") != "unknown":
        return []
    names = [s["name"] for s in cross["setups"]]
    lines = [f"across setups: {', '.join(names)} (+ published: {', '.join(cross.get('published_setups') or []) or 'none'}); "
             "the point: mean prefactor, pooled exponents; the setup part: the setups' own laws at the target"]
    for law, rec in cross["laws"].items():
        for name, s in rec["setups"].items():
            flagged = f"; differs: {', '.join(INPUT_NAMES.get(n, n) for n in s['inconsistent'])}" if s.get("inconsistent") else ""
            lines.append(f"  {LAW_NAMES[law]} {name}: prefactor {s['prefactor']:.4g} (pooled exponents); own exponents "
                         f"{_own(rec, s)}{flagged}")
    loso = (cross.get("leave_one_setup_out") or {}).get("setups", {})
    for name, row in loso.items():
        for mode, label in MODES:
            for law in ("lr", "batch"):
                lines.append(f"  leave {name} out, {label}, {LAW_NAMES[law]}: {_score((row.get(mode) or {}).get(law))}")
    return lines


def markdown(cross: dict | None) -> list[str]:
    """The report's section (empty for a fit without the record)."""
    if not cross or cross.get("mode") != "unknown":
        return []
    lines = ["## Across setups", "", f"Setups: {', '.join(s['name'] for s in cross['setups'])}; published setups: "
             f"{', '.join(cross.get('published_setups') or []) or 'none'}. Setup part: {cross['spread_rule']}. "
             f"{cross.get('reference_only', '')}.", "",
             "| law | setup | prefactor (pooled exponents) | own exponents | differs | cells |", "|---|---|---|---|---|---|"]
    for law, rec in cross["laws"].items():
        for name, s in rec["setups"].items():
            lines.append(f"| {LAW_NAMES[law]} | {name} | {s['prefactor']:.4g} | {_own(rec, s)} | "
                         f"{', '.join(INPUT_NAMES.get(n, n) for n in s.get('inconsistent', [])) or '—'} | {s['n_cells']} |")
    loso = (cross.get("leave_one_setup_out") or {}).get("setups", {})
    if loso:
        lines += ["", "### Leave one setup out", "", cross["leave_one_setup_out"].get("tolerance", ""), "",
                  "| held out | fit | law | cells | median \\|log2\\| | within half a step | bias | inside 90% | median width "
                  "| width at 7B/2T |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, row in loso.items():
            for mode, _ in MODES:
                for law in ("lr", "batch"):
                    sc = (row.get(mode) or {}).get(law)
                    cells = ([str(sc["n"]), f"{sc['median_abs_log2']:.2f}", f"{sc['median_abs_log2_tol']:.2f}",
                              f"{sc['mean_log2']:+.2f}", f"{sc['inside']}/{sc['n']}", _width(sc["median_width"]),
                              _width(sc.get("width_at_7b_2t", float("nan")))]
                             if sc else ["—"] * 7)
                    lines.append(f"| {name} | {mode} | {LAW_NAMES[law]} | " + " | ".join(cells) + " |")
    return lines + [""]


