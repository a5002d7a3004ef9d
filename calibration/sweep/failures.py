"""Why a sweep failed as a whole: when every trial failed, say the reason, not what to try next.

A sweep whose every trial fails for one reason (data the model cannot read, a device that cannot hold the
proxy) has nothing to fit; its message must name that reason, so that the user fixes it instead of widening
the spec. The reason is the first line of the trials' kept error (the exception and its message).
"""
from __future__ import annotations

from pathlib import Path

from calibration.sweep.store import FINISHED, TrialStore


def failure_reasons(out_dir: str | Path) -> list[str]:
    """Distinct reasons (first lines of the errors) of the failed trials of the store's current spec, most
    frequent first."""
    with TrialStore.open(out_dir) as store:
        rows = store.trials(statuses=["failed"], spec_hash=store.meta("spec_hash"))
    counts: dict[str, int] = {}
    for r in rows:
        error = r["result"].error if r["result"] else ""
        reason = (error.strip().splitlines() or ["(no error recorded)"])[0]
        counts[reason] = counts.get(reason, 0) + 1
    return sorted(counts, key=lambda reason: -counts[reason])


def all_failed_message(out_dir: str | Path) -> str | None:
    """A one-line message when no trial of the store's current spec finished (ok, diverged or pruned) and
    some failed, naming the reason; None otherwise."""
    with TrialStore.open(out_dir) as store:
        rows = store.trials(statuses=FINISHED, spec_hash=store.meta("spec_hash"))
    if not rows or any(r["status"] != "failed" for r in rows):
        return None
    reasons = failure_reasons(out_dir)
    why = (f"for one reason: {reasons[0]}" if len(reasons) == 1
           else f"for {len(reasons)} different reasons, the most frequent: {reasons[0]}")
    return f"every trial failed ({len(rows)}), {why} (details: advisor calibrate status {out_dir})"


def reason_suffix(out_dir: str | Path) -> str:
    """'; every one failed with: REASON' when the failed trials share one reason, else ''."""
    reasons = failure_reasons(out_dir)
    return f"; every one failed with: {reasons[0]}" if len(reasons) == 1 else ""
