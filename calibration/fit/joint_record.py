"""What a joint fit records and says: the artifact's `provenance.joint` section, its coded warnings, the
fitted range it claims, and the lines `advisor fit` and the report print about it."""
from __future__ import annotations

from advisor.coded_warning import CodedWarning
from advisor.laws import INPUT_SYMBOLS
from advisor.setup_record import Estimate, Exponent, JointLaw, JointRecord

INPUT_NAMES = INPUT_SYMBOLS
LAW_NAMES = {"lr": "LR", "batch": "batch"}
# |log2| error of your largest size predicted from the rest that says the borrowed exponents do not carry your
# optimum: 0.5 is 1.41x, twice the synthetic case's error when the exponents are truly shared (docs/fitting.md)
HELD_OUT_POOR_LOG2 = 0.5
TEST_TEXT = ("each exponent your cells span gets your own slope beside the pooled one; it is pooled when the "
             "90% bootstrap interval of the difference contains zero, else your own slope is used")


def chosen(fitter) -> dict:
    """law -> the chosen joint fit's record (joint_law._record), for the laws that have one."""
    return {law: fits[0].joint for law, fits in (("lr", fitter.lr_fits_), ("batch", fitter.batch_fits_)) if fits}


def joint_section(fitter) -> dict:
    """provenance.joint: the sources, MINE's own range, each law's prefactors, exponents and tests."""
    mine = fitter.table_
    used = mine.w("lr") > 0
    return {
        "sources": [{"name": s.name, "table_sha256": s.sha256, "n_trials": s.n_trials, "n_cells": len(s.table.cells)}
                    for s in fitter.sources_],
        "mine_fit_range": {k: [float(v[used].min()), float(v[used].max())] for k, v in mine.inputs.items()},
        "consistency_test": TEST_TEXT,
        "loss_surface": "your cells only", "penalty": "your cells only",
        "laws": chosen(fitter),
    }


def pooled_fit_range(fitter) -> dict:
    """The (N, D, C) range the exponents were measured over: every setup's usable cells of the LR law. An
    exponent of your own (inconsistent with the sources') was measured over your sizes only; its warning
    says so, and its interval is its bootstrap's, carried linearly to the target (docs/fitting.md)."""
    st = fitter.stacks_["lr"]
    use = st.w > 0
    return {k: (float(v[use].min()), float(v[use].max())) for k, v in st.inputs.items()}


def joint_warnings(fitter) -> list[CodedWarning]:
    """An exponent that differs from the sources' (not pooled), and each one borrowed untested."""
    out = []
    names = ", ".join(s.name for s in fitter.sources_)
    for law, rec in chosen(fitter).items():
        for name, e in (JointLaw.from_json(rec).exponents or {}).items():
            what = f"{LAW_NAMES[law]} law: the {INPUT_NAMES[name]} exponent"
            if e.status == "own":
                t = e.test
                out.append(CodedWarning(
                    "joint_exponent_differs",
                    f"{what} of your setup, {_ci(t.mine)}, differs from the sources' ({names}) "
                    f"{_ci(t.others)} by {_ci(t.difference, sign=True)}: not pooled; your own exponent is "
                    "used, measured over your sizes only"))
            elif e.status == "borrowed":
                out.append(CodedWarning(
                    "joint_exponent_borrowed",
                    f"{what}, {_ci(e.shared)}, is borrowed from {names} untested ({e.untested_because})"))
    return out + _held_out_warning(fitter)


def _held_out_warning(fitter) -> list[CodedWarning]:
    """Your largest size predicted by the joint fit without it: the one direct test of the borrowed exponents,
    which the consistency test (a few of your cells) can miss."""
    held = fitter.validation_.held_out_largest
    errors = {LAW_NAMES[law]: getattr(held, f"{law}_log2_error", None) for law in ("lr", "batch")} if held else {}
    poor = {k: v for k, v in errors.items() if v is not None and v > HELD_OUT_POOR_LOG2}
    if not poor:
        return []
    what = ", ".join(f"{k} |log2 err| {v:.2f} ({2 ** v:.1f}x)" for k, v in poor.items())
    return [CodedWarning(
        "joint_heldout_poor",
        f"your largest size, predicted by the joint fit from your other cells, is off: {what}; the pooled "
        "exponents may not hold for your setup although the consistency test passed: trust the answer less "
        "far from your sizes, or add a size")]


def summary_lines(joint: JointRecord) -> list[str]:
    """`advisor fit`'s lines about a joint fit (from provenance.joint)."""
    lines = [f"joint fit with {_sources(joint)}: your prefactors, exponents shared "
             "where your data are consistent with the sources'"]
    for law, rec in (joint.laws or {}).items():
        pre = "; ".join(f"{name} {_ci(p, fmt='.4g')}" for name, p in (rec.prefactors or {}).items())
        lines.append(f"  {LAW_NAMES[law]} ({rec.form}): prefactors {pre}")
        for name, e in (rec.exponents or {}).items():
            lines.append(f"    {INPUT_NAMES[name]} exponent: {_exponent_text(e)}")
        if rec.mine_cv_log2_error is not None:
            lines.append(f"    your sizes held out one at a time: |log2 err| {rec.mine_cv_log2_error:.3f}")
    return lines


def markdown(joint: JointRecord | None) -> list[str]:
    """The report's joint section (empty for a one-setup fit)."""
    if joint is None:
        return []
    lines = ["## Joint fit", "", f"Sources: {_sources(joint)}. Each setup has its own "
             f"prefactors; {joint.consistency_test}. The loss surface and the penalty model are from your cells "
             "only.", "", "| law | exponent | status | shared (90% CI) | yours | difference |", "|---|---|---|---|---|---|"]
    for law, rec in (joint.laws or {}).items():
        for name, e in (rec.exponents or {}).items():
            t = e.test
            lines.append(f"| {LAW_NAMES[law]} | {INPUT_NAMES[name]} | {e.status} | {_ci(e.shared)} | "
                         f"{_ci(t.mine) if t else '—'} | {_ci(t.difference, sign=True) if t else e.untested_because} |")
    lines += ["", "| law | setup | prefactor (90% CI) | cells | residual sd |", "|---|---|---|---|---|"]
    for law, rec in (joint.laws or {}).items():
        for name, p in (rec.prefactors or {}).items():
            lines.append(f"| {LAW_NAMES[law]} | {name} | {_ci(p, fmt='.4g')} | {p.n_cells} | {p.residual_sd:.3f} |")
    return lines + [""]


def _sources(joint: JointRecord) -> str:
    return ", ".join(s.name for s in joint.sources or [])


def _exponent_text(e: Exponent) -> str:
    if e.status == "borrowed":
        return f"{_ci(e.shared)}, borrowed untested ({e.untested_because})"
    t = e.test
    verdict = "consistent, pooled" if e.status == "pooled" else "INCONSISTENT, yours used"
    return f"pooled {_ci(e.shared)}; yours {_ci(t.mine)}, difference {_ci(t.difference, sign=True)}: {verdict}"


def _ci(v: Estimate, fmt: str = ".3f", sign: bool = False) -> str:
    f = ("+" if sign else "") + fmt
    ci = v.ci90
    return format(v.value, f) + (f" [{format(ci[0], f)}, {format(ci[1], f)}]" if ci else "")
