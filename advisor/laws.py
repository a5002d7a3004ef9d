"""Law forms and published laws (with citations), evaluated with `math` alone.

Units (docs/architecture.md, "Units and names"): N = non-embedding parameters, D = training tokens,
C = training FLOPs, lr = peak learning rate, batch in tokens, loss in nats/token.

- `PowerLaw`: log y = log_coef[0] + sum_i log_coef[i+1] * log(x_i), inputs among n_params, tokens, flops
  (the fitted-model artifact's form, docs/fitted-model.md).
- `LossLaw`: L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al., arXiv 2203.15556), with its
  compute-optimal allocation at C = 6ND.
- `LOSS_PRESETS`: Chinchilla and Epoch's refit. `HYPERPARAMETER_LAWS`: DeepSeek LLM, Step Law, Kaplan
  et al., Porian et al., each a function of the target returning LR and batch (or None with a note).
"""
from __future__ import annotations

import math
from operator import mul
from dataclasses import dataclass, field
from typing import Callable, Sequence

INPUTS = ("n_params", "tokens", "flops")
INPUT_SYMBOLS = {"n_params": "N", "tokens": "D", "flops": "C"}  # as equations write them


@dataclass(frozen=True)
class PowerLaw:
    """y = exp(log_coef[0]) * prod_i x_i^log_coef[i+1]."""

    inputs: tuple[str, ...]
    log_coef: tuple[float, ...]
    form: str = ""

    def __post_init__(self) -> None:
        unknown = [name for name in self.inputs if name not in INPUTS]
        if unknown:
            raise ValueError(f"unknown law input(s) {unknown}; expected any of {INPUTS}")
        if len(self.log_coef) != len(self.inputs) + 1:
            raise ValueError(
                f"law has {len(self.inputs)} input(s) but {len(self.log_coef)} coefficients "
                f"(expected {len(self.inputs) + 1})"
            )

    def log_predict(self, point: dict[str, float], log_coef: Sequence[float] | None = None) -> float:
        """log y at `point` (a dict with n_params, tokens, flops); optionally with other coefficients."""
        coef = self.log_coef if log_coef is None else log_coef
        return coef[0] + sum(c * math.log(point[name]) for c, name in zip(coef[1:], self.inputs))

    def log_predict_each(self, point: dict[str, float], log_coefs: Sequence[Sequence[float]]) -> list[float]:
        """`log_predict(point, c)` for each c (bootstrap draws), the logs of the inputs taken once: the same
        products in the same order, so the same numbers, faster (cold start)."""
        logs = [math.log(point[name]) for name in self.inputs]
        return [coef[0] + sum(map(mul, coef[1:], logs)) for coef in log_coefs]

    def predict(self, point: dict[str, float]) -> float:
        return math.exp(self.log_predict(point))


@dataclass(frozen=True)
class LossLaw:
    """L(N, D) = E + A / N^alpha + B / D^beta, in nats/token.

    N is the non-embedding count for this project's own fits; Hoffmann et al. and the Epoch refit count
    TOTAL parameters (Pearce & Song, arXiv 2406.12907), so their presets set `n_is_total` and callers
    evaluate them with `n_of(shape)`.
    """

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    name: str = ""
    citation: str = ""
    n_is_total: bool = False

    def n_of(self, shape) -> float:
        """The parameter count this law's N means, from a shape with n_params and n_params_total."""
        return shape.n_params_total if self.n_is_total else shape.n_params

    def loss(self, n_params: float, tokens: float) -> float:
        return self.E + self.A / n_params**self.alpha + self.B / tokens**self.beta

    def _g(self) -> float:
        # N_opt = G * (C/6)^(beta/(alpha+beta)), from d/dN [A N^-a + B (C/6N)^-b] = 0.
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """(N, D) minimising L at fixed C = 6ND."""
        a, b = self.alpha, self.beta
        n_opt = self._g() * (flops / 6.0) ** (b / (a + b))
        return n_opt, flops / (6.0 * n_opt)

    def optimal_tokens(self, n_params: float) -> float:
        """D such that N is the compute-optimal size for C = 6ND (inverse of `compute_optimal`)."""
        a, b = self.alpha, self.beta
        c_over_6 = (n_params / self._g()) ** ((a + b) / b)
        return c_over_6 / n_params

    def is_usable(self) -> bool:
        values = (self.E, self.A, self.alpha, self.B, self.beta)
        return all(math.isfinite(v) for v in values) and min(self.A, self.alpha, self.B, self.beta) > 0


LOSS_PRESETS: dict[str, LossLaw] = {
    "chinchilla": LossLaw(
        E=1.69, A=406.4, alpha=0.34, B=410.7, beta=0.28, name="Chinchilla",
        citation="Hoffmann et al. 2022, arXiv 2203.15556 (approach 3)", n_is_total=True,
    ),
    "epoch": LossLaw(
        E=1.82, A=482.01, alpha=0.3478, B=2085.43, beta=0.3658, name="Epoch refit of Chinchilla",
        citation="Besiroglu et al. 2024, arXiv 2404.10102", n_is_total=True,
    ),
}

CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 rule of thumb


# ---------------------------------------------------------------- published LR / batch laws


@dataclass(frozen=True)
class Target:
    """What a published law is evaluated at. `n_layer`/`d_model` are the standard shape (advisor/shape.py)."""

    n_params: float
    tokens: float
    seq_len: int
    n_layer: float
    d_model: float
    loss: float | None = None  # predicted final loss (for Kaplan's B_crit(L))
    loss_source: str = ""


@dataclass
class LawAnswer:
    """A published law's LR and batch for one target, with its notes."""

    lr: float | None
    batch_tokens: float | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PublishedLaw:
    """A hyperparameter law from a paper: its name, citation, formula and how to evaluate it."""

    key: str
    name: str
    citation: str
    formula: str
    evaluate: Callable[[Target], LawAnswer]
    # what the law's batch is: the loss-optimal batch, or (Kaplan et al.) the critical batch B_crit(L), past
    # which more data-parallelism stops paying; the output's label says which
    batch_label: str = "optimum"


def deepseek_flops(t: Target) -> float:
    """DeepSeek's C = M·D with M = 72·n_layer·d² + 6·n_layer·d·l_seq non-embedding FLOPs/token
    (arXiv 2401.02954, eq. 2). With N = 12·n_layer·d² (our standard shape), 72·n_layer·d² = 6N."""
    return (6.0 * t.n_params + 6.0 * t.n_layer * t.d_model * t.seq_len) * t.tokens


# Each published coefficient is written once, as its paper prints it: the law's code reads the number and its
# formula text prints the same string.
DEEPSEEK_COEF = ("0.3118", "-0.125", "0.2920", "0.3271")  # η = a·C^b, B = c·C^d (arXiv 2401.02954)
STEP_LAW_COEF = ("1.79", "-0.713", "0.307", "0.58", "0.571")  # η = a·N^b·D^c, B = d·D^e (arXiv 2503.04715)
KAPLAN_COEF = ("0.003239", "0.0001395", "2e8", "0.21")  # LR(N) = a − b·ln N; B_crit = B*/L^(1/α_B) (arXiv 2001.08361)
KAPLAN_B_STAR, KAPLAN_ALPHA_B = float(KAPLAN_COEF[2]), float(KAPLAN_COEF[3])  # B* in tokens


def _deepseek(t: Target) -> LawAnswer:
    c = deepseek_flops(t)
    a, b, c_b, d = map(float, DEEPSEEK_COEF)
    return LawAnswer(
        lr=a * c**b,
        batch_tokens=c_b * c**d,
        notes=[f"C = (6N + 6·n_layer·d_model·seq_len)·D = {c:.3g} FLOPs (DeepSeek's M incl. attention)"],
    )


def _step_law(t: Target) -> LawAnswer:
    a, b, c, d, e = map(float, STEP_LAW_COEF)
    return LawAnswer(
        lr=a * t.n_params**b * t.tokens**c,
        batch_tokens=d * t.tokens**e,
        notes=["N non-embedding, D and B in tokens"],
    )


def _kaplan(t: Target) -> LawAnswer:
    notes = []
    a, b = float(KAPLAN_COEF[0]), float(KAPLAN_COEF[1])
    lr = a - b * math.log(t.n_params)
    if lr <= 0:
        notes.append(f"LR(N) is negative beyond N ≈ {math.exp(a / b):.2g}: left out")
        lr = None
    batch = None
    if t.loss is not None and t.loss > 0:
        batch = KAPLAN_B_STAR / t.loss ** (1.0 / KAPLAN_ALPHA_B)
        notes.append(f"B_crit at L = {t.loss:.3f} nats from {t.loss_source}; Kaplan's L is WebText2 "
                     "loss with GPT-2 BPE, so this is indicative only")
    else:
        notes.append("no loss law available for B_crit(L): left out")
    return LawAnswer(lr=lr, batch_tokens=batch, notes=notes)


def _porian(t: Target) -> LawAnswer:
    # Not found in the paper text available to us. A third-party implementation (SmallDoge, citing
    # arXiv 2406.19146) transcribes η = 3.7·N^-0.36 and B = 0.7576·N^0.703; unverified, so not used.
    return LawAnswer(
        lr=None, batch_tokens=None,
        notes=["the paper's fitted LR/batch coefficients could not be verified here, so this row is left out "
               "rather than guessed (an unverified third-party transcription reads η = 3.7·N^-0.36, "
               "B = 0.7576·N^0.703)",
               "their finding used by `recommend`: small batches need a higher AdamW β2"],
    )


HYPERPARAMETER_LAWS: dict[str, PublishedLaw] = {
    "deepseek": PublishedLaw(
        "deepseek", "DeepSeek LLM", "Bi et al. 2024, arXiv 2401.02954",
        "η = {}·C^{}, B = {}·C^{}".format(*DEEPSEEK_COEF), _deepseek,
    ),
    "steplaw": PublishedLaw(
        "steplaw", "Step Law", "Li et al. 2025, arXiv 2503.04715",
        "η = {}·N^{}·D^{}, B = {}·D^{}".format(*STEP_LAW_COEF), _step_law,
    ),
    "kaplan": PublishedLaw(
        "kaplan", "Kaplan et al.", "Kaplan et al. 2020, arXiv 2001.08361",
        "LR(N) = {} − {}·ln N, B_crit = {}/L^(1/{})".format(*KAPLAN_COEF), _kaplan, batch_label="critical batch",
    ),
    "porian": PublishedLaw(
        "porian", "Porian et al.", "Porian et al. 2024, arXiv 2406.19146",
        "η*(N), B*(N) power laws (coefficients not reproduced)", _porian,
    ),
}

# Laws complete enough (LR and batch) to drive `advisor recommend --law NAME`.
RECOMMEND_LAWS = ("deepseek", "steplaw", "kaplan")
# The independent fits of the optimal LR and batch, each on its authors' own sweeps: the published setups an
# answer is compared against, and what derived quantities rest on where a model does not know the optimum.
SETUP_LAWS = ("deepseek", "steplaw")
# The published law whose batch stands in when a fitted model has no usable batch law (it is a bound).
FALLBACK_BATCH_LAW = "deepseek"


def batch_label(batch_source: str) -> str:
    """What a recommendation's batch is, by where it came from ("model" or "law:KEY"): the loss-optimal batch
    ("optimum"), or what the published law computes instead (Kaplan et al.'s "critical batch")."""
    law = HYPERPARAMETER_LAWS.get(batch_source.removeprefix("law:")) if batch_source.startswith("law:") else None
    return law.batch_label if law is not None else "optimum"


def setup_law_answers(target: Target, index: int) -> list[tuple[str, float]]:
    """(name, LR (index 0) or batch in tokens (index 1)) of each SETUP_LAWS law at the target, where it gives a
    positive, finite answer."""
    out = []
    for key in SETUP_LAWS:
        answer = HYPERPARAMETER_LAWS[key].evaluate(target)
        value = (answer.lr, answer.batch_tokens)[index]
        if value is not None and 0 < value < math.inf:
            out.append((HYPERPARAMETER_LAWS[key].name, value))
    return out
