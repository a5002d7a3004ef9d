"""What a cross-setup fit says: `advisor fit`'s lines and the report's section, from provenance.cross_setup
(calibration/fit/cross_setup.py), leave one setup out included."""
from __future__ import annotations

from advisor.setup_record import CrossLaw, CrossSetupRecord, HoldOutScore, SetupHoldOut, SetupLaw
from calibration.fit.joint_record import INPUT_NAMES, LAW_NAMES
MODES = (("unanchored", "without any of its cells"), ("anchored", "anchored on its smallest size"))


def _own(rec: CrossLaw, s: SetupLaw) -> str:
    return ", ".join(f"{INPUT_NAMES.get(n, n)} {s.log_coef[1 + j]:+.2f}" for j, n in enumerate(rec.inputs))


def _score(sc: HoldOutScore | None) -> str:
    if not sc:
        return "not measurable (too few cells)"
    return (f"median |log2| {sc.median_abs_log2:.2f} ({sc.median_abs_log2_tol:.2f} within half a step), "
            f"bias {sc.mean_log2:+.2f}, inside 90% {sc.inside}/{sc.n}, median width {_width(sc.median_width)}")


def _width(w: float | None) -> str:
    w = float("nan") if w is None else w
    return f"{w:.3g}×" if w < 1e4 else f"{w:.1e}×"


def _mode_score(row: SetupHoldOut, mode: str, law: str) -> HoldOutScore | None:
    scores = getattr(row, mode)
    return getattr(scores, law) if scores is not None else None


def _published(cross: CrossSetupRecord) -> str:
    return ", ".join(cross.published_setups or []) or "none"


def summary_lines(cross: CrossSetupRecord) -> list[str]:
    """`advisor fit`'s lines about a cross-setup fit."""
    if cross.mode != "unknown":
        return []
    lines = [f"across setups: {', '.join(cross.setup_names())} (+ published: {_published(cross)}); "
             "the point: mean prefactor, pooled exponents; the setup part: the setups' own laws at the target"]
    for law, rec in (cross.laws or {}).items():
        for name, s in (rec.setups or {}).items():
            flagged = f"; differs: {', '.join(INPUT_NAMES.get(n, n) for n in s.inconsistent)}" if s.inconsistent else ""
            lines.append(f"  {LAW_NAMES[law]} {name}: prefactor {s.prefactor:.4g} (pooled exponents); own exponents "
                         f"{_own(rec, s)}{flagged}")
    loso = cross.leave_one_setup_out
    for name, row in ((loso.setups or {}) if loso else {}).items():
        for mode, label in MODES:
            for law in ("lr", "batch"):
                lines.append(f"  leave {name} out, {label}, {LAW_NAMES[law]}: {_score(_mode_score(row, mode, law))}")
    return lines


def markdown(cross: CrossSetupRecord | None) -> list[str]:
    """The report's section (empty for a fit without the record)."""
    if cross is None or cross.mode != "unknown":
        return []
    lines = ["## Across setups", "", f"Setups: {', '.join(cross.setup_names())}; published setups: "
             f"{_published(cross)}. Setup part: {cross.spread_rule}. {cross.reference_only or ''}.", "",
             "| law | setup | prefactor (pooled exponents) | own exponents | differs | cells |", "|---|---|---|---|---|---|"]
    for law, rec in (cross.laws or {}).items():
        for name, s in (rec.setups or {}).items():
            lines.append(f"| {LAW_NAMES[law]} | {name} | {s.prefactor:.4g} | {_own(rec, s)} | "
                         f"{', '.join(INPUT_NAMES.get(n, n) for n in s.inconsistent or []) or '—'} | {s.n_cells} |")
    loso = cross.leave_one_setup_out
    if loso and loso.setups:
        lines += ["", "### Leave one setup out", "", loso.tolerance or "", "",
                  "| held out | fit | law | cells | median \\|log2\\| | within half a step | bias | inside 90% | median width "
                  "| width at 7B/2T |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, row in loso.setups.items():
            for mode, _ in MODES:
                for law in ("lr", "batch"):
                    lines.append(f"| {name} | {mode} | {LAW_NAMES[law]} | " + " | ".join(_score_cells(
                        _mode_score(row, mode, law))) + " |")
    return lines + [""]


def _score_cells(sc: HoldOutScore | None) -> list[str]:
    if not sc:
        return ["—"] * 7
    return [str(sc.n), f"{sc.median_abs_log2:.2f}", f"{sc.median_abs_log2_tol:.2f}", f"{sc.mean_log2:+.2f}",
            f"{sc.inside}/{sc.n}", _width(sc.median_width), _width(sc.width_at_7b_2t)]
