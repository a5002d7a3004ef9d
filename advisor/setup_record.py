"""The records a fit over several setups keeps in the artifact's provenance, as types (docs/fitted-model.md):

- `cross_setup` (CrossSetupRecord): each setup's own law beside the pooled one, what the setup part of an
  interval is built from (advisor/setups.py); written by a fit across setups (`mode: unknown`,
  calibration/fit/cross_setup.py, with leave one setup out) and by a joint fit (`mode: anchored`);
- `joint` (JointRecord): a joint fit of your own setup with public sweeps (calibration/fit/joint.py): the
  sources, each setup's prefactor, each exponent pooled, your own or borrowed, and its consistency test.

Every field is optional and written only when present (null where the writer writes null: KEEP_NULL), so a
record reads and writes back unchanged (tests/test_artifact_roundtrip.py).
"""
from __future__ import annotations

from advisor.artifact_record import Record
from advisor.json_record import record


@record
class Estimate(Record):
    """A coefficient with its 90% bootstrap interval (absent without a bootstrap); a joint fit's prefactor
    also has its setup's cells and residual scatter."""

    value: float | None = None
    ci90: tuple[float, float] | None = None
    n_cells: int | None = None
    residual_sd: float | None = None


@record
class SlopeTest(Record):
    """One exponent's consistency test: your slope, the others', their difference; inconsistent when the
    difference's 90% interval excludes zero."""

    mine: Estimate | None = None
    others: Estimate | None = None
    difference: Estimate | None = None
    inconsistent: bool | None = None


# ------------------------------------------------------------------ provenance.cross_setup

@record
class SetupRow(Record):
    """One setup the laws pool (or a source of a joint fit): its name, its table's sha256 (not for the
    reference setup: the provenance's own), its runs and cells."""

    name: str | None = None
    table_sha256: str | None = None
    n_trials: int | None = None
    n_cells: int | None = None


@record
class SetupLaw(Record):
    """One setup's law within a cross-setup law: its prefactor under the pooled exponents, its own law
    (`log_coef`: its own slope where its cells test one), the slopes it measured (`own`), those that differ
    from the others' (`inconsistent`), why a slope went untested, and its consistency tests."""

    prefactor: float | None = None
    residual_sd: float | None = None
    log_coef: tuple[float, ...] | None = None
    own: list[str] | None = None
    inconsistent: list[str] | None = None
    untested: dict[str, str] | None = None
    n_cells: int | None = None
    setup_log_coef: tuple[float, ...] | None = None  # the law `--setup NAME` answers with
    tests: dict[str, SlopeTest] | None = None


@record
class CrossLaw(Record):
    """One law (lr or batch) across setups: the form, the pooled law, each setup's own; anchored: the inputs
    whose slope your cells measured (`own`) and the anchor point (your cells' geometric centre)."""

    form: str | None = None
    inputs: tuple[str, ...] | None = None
    own: list[str] | None = None
    pooled_log_coef: tuple[float, ...] | None = None
    setups: dict[str, SetupLaw] | None = None
    anchor: dict[str, float] | None = None


@record
class HoldOutScore(Record):
    """A held-out setup's optima against the law fitted without it: errors, coverage and widths."""

    n: int | None = None
    median_abs_log2: float | None = None
    median_abs_log2_tol: float | None = None  # errors within half a grid step counted as 0
    mean_log2: float | None = None
    inside: int | None = None
    median_width: float | None = None
    width_at_7b_2t: float | None = None


@record
class ModeScores(Record):
    """The LR and batch scores of one way of holding a setup out (null: not measurable)."""

    KEEP_NULL = ("lr", "batch")
    lr: HoldOutScore | None = None
    batch: HoldOutScore | None = None


@record
class SetupHoldOut(Record):
    """One setup held out: without any of its cells, and anchored on its smallest size."""

    unanchored: ModeScores | None = None
    anchored: ModeScores | None = None


@record
class LeaveOneSetupOut(Record):
    """Leave one setup out, for each setup; the tolerance rule the scores use."""

    published_setups: list[str] | None = None
    setups: dict[str, SetupHoldOut] | None = None
    tolerance: str | None = None


@record
class CrossSetupRecord(Record):
    """provenance.cross_setup (module docstring)."""

    mode: str | None = None  # "unknown" (a setup none of them is) or "anchored" (yours, pinned by your cells)
    setups: list[SetupRow] | None = None
    published_setups: list[str] | None = None  # published laws counted as setups (advisor.laws keys)
    reference: str | None = None
    spread_rule: str | None = None
    reference_only: str | None = None
    laws: dict[str, CrossLaw] | None = None
    leave_one_setup_out: LeaveOneSetupOut | None = None

    def setup_names(self) -> list[str]:
        return [s.name for s in self.setups or [] if s.name is not None]


# ------------------------------------------------------------------ provenance.joint

@record
class Exponent(Record):
    """One exponent of a joint law: pooled, your own (inconsistent with the sources') or borrowed untested."""

    KEEP_NULL = ("test", "untested_because")
    status: str | None = None  # pooled | own | borrowed
    shared: Estimate | None = None
    test: SlopeTest | None = None
    untested_because: str | None = None


@record
class JointLaw(Record):
    """One law of a joint fit: the form, the setups, their prefactors, the exponents, your sizes held out."""

    KEEP_NULL = ("mine_cv_log2_error",)
    form: str | None = None
    setups: list[str] | None = None
    prefactors: dict[str, Estimate] | None = None
    exponents: dict[str, Exponent] | None = None
    mine_cv_log2_error: float | None = None


@record
class JointRecord(Record):
    """provenance.joint (module docstring)."""

    sources: list[SetupRow] | None = None
    mine_fit_range: dict[str, tuple[float, float]] | None = None  # your own cells' range
    consistency_test: str | None = None
    loss_surface: str | None = None
    penalty: str | None = None
    laws: dict[str, JointLaw] | None = None
