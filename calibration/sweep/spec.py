"""Sweep specification: what a calibration sweep trains, read from TOML and validated strictly.

A spec names the proxy sizes, the token budgets per size, the LR and batch grids, the seeds, the
trial defaults (any TrialConfig field) and the adaptive-grid settings. SPEC on the command line is a
path to a TOML file or the name of a shipped preset (calibration/sweep/presets/NAME.toml).

    name = "my-sweep"
    device = "auto"                  # auto | cpu | mps | cuda | cuda:N (run --device overrides it)
    seeds = [0]                      # or a table: {values = [0], extra = [1, 2], extra_smallest = 2,
                                     #   extra_near_best = 4}: extra seeds on the whole grid of the smallest
                                     #   sizes, and on each other cell's 4 best points once its grid is settled
    min_steps = 20                   # every trial must take at least this many optimizer steps

    [sizes]                          # at least one of:
    rungs = ["r1", "r2"]             #   named sizes of calibration.proxy.model.RUNGS
    n_params = [1e4, 3e4]            #   non-embedding parameter targets (proxy.shape_for_params)
    shapes = [{n_layer = 2, d_model = 32, n_head = 2, d_ff = 96}]   # explicit shapes

    [budget]                         # at least one of (each size gets every budget):
    tokens_per_param = [20.0]        #   D = k * N
    tokens = [1e6]                   #   absolute D
    flops = [1e12]                   #   compute budget C: D = C / flops_per_token

    [lr]                             # values = [...] or a log-spaced grid:
    min = 1e-3
    max = 3e-2
    points = 5

    [batch]
    seqs = [8, 16, 32]               # sequences per optimizer step (batch_tokens = seqs * seq_len)

    [trial]                          # defaults for any other TrialConfig field, in range (TRIAL_RANGES)
    seq_len = 64
    schedule = "cosine"
    optimizer = "adamw"              # or "muon": torch.optim.Muon on the hidden matrices, AdamW on the rest
                                     #   (calibration/proxy/optim.py), with its own keys:
                                     #   momentum = 0.95, adam_lr_ratio = 0.3 (the AdamW part's LR / lr),
                                     #   muon_lr_convention = "original" | "match_rms_adamw"
    data = "kjv"                     # or a text file/folder, a uint16 .bin, a nanoGPT train.bin + val.bin folder
    vocab_size = 50304               # optional: by default the data's (256 for text; for .bin files a
                                     #   meta.pkl's vocab_size beside them, else the largest id + 1), rounded
                                     #   up to a multiple of 64

    [adaptive]                       # grid extension when an optimum sits on a grid edge
    extend = true
    extend_batch = true
    max_extensions = 3               # per direction and grid row
    lr_min = 1e-5
    lr_max = 1.0
    batch_min = 1
    batch_max = 1024
    refine = false                   # add half-step LR points around each row's optimum

    [search]                         # how each cell places its trials (docs/search.md)
    method = "grid"                  # grid (default: [lr] x [batch], widened by [adaptive]) | sobol | tpe | coord
    trials_per_cell = 12             # sobol/tpe: (LR, batch) points per cell, each run for every seed
    seed = 0                         # default: the first of seeds.values
    initial_trials = 6               # tpe: the Sobol design it starts from (default: half the budget);
                                     #   coord: its first LR row (default 4)
    round_trials = 2                 # tpe, coord: points per model-guided round (default 2)
                                     # early stopping of hopeless trials (calibration/sweep/prune.py):
    prune = "asha"                   #   "none" (the default) or "asha"
    rungs = [0.2, 0.5]               #   fractions of each trial's run at which it may be stopped
    eta = 3.0                        #   a trial goes on while in the best 1/eta at a rung ...
    margin = 0.08                    #   ... or within this fraction of the rung's best loss
    min_trials = 4                   #   finished trials of the cell needed at a rung before it prunes

A search places LRs log-uniformly in [min, max] of [lr] and batches on the powers of two within [min, max]
of batch.seqs (and those two values); [adaptive] does not grow its grid: only its lr_min and lr_max
bound the brackets a tpe search may step out to (calibration/sweep/search.py).

Every error is a SpecError (a ValueError) whose message names the offending key. Shapes need an even head
dim (rotary embeddings); whether each size fits this machine's memory is checked by calibration.sweep.plan.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from advisor.bounded_read import read_text
from advisor.units import is_number

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from calibration.record.trial import TrialConfig
from calibration.sweep.search import METHODS, SEARCHES
from calibration.sweep.spec_types import (AdaptiveSettings, PruneSettings, SearchSettings, SpecError,
                                          SweepSpec)

PRESET_DIR = Path(__file__).resolve().parent / "presets"
DEVICES_HELP = "auto, cpu, mps, cuda or cuda:N"
# TrialConfig fields the grid sets per trial; they cannot be defaults in [trial].
GRID_FIELDS = ("n_layer", "d_model", "n_head", "d_ff", "tokens", "batch_seqs", "lr", "seed")
SHAPE_FIELDS = ("n_layer", "d_model", "n_head", "d_ff")
# Caps checked at load, so that a typo (points = 1e6) is one line, not minutes and gigabytes of planning.
MAX_GRID_POINTS = 1000  # values in one list or grid (sizes, budgets, LRs, batches, seeds, lr.points)
MAX_GRID_TRIALS = 100_000  # sizes x budgets x LRs x batches x seeds before adaptive extension
MAX_COUNT = 10_000_000  # any other whole number of the spec (steps, shapes, budgets per cell)
MAX_SEED = 2**32 - 1  # what numpy's and torch's generators take
# Allowed ranges of [trial] numbers: (low, low allowed, high or None, high allowed).
TRIAL_RANGES = {
    "vocab_size": (1, True, None, False),
    "seq_len": (1, True, None, False),
    "weight_decay": (0.0, True, None, False),
    "beta1": (0.0, True, 1.0, False),
    "beta2": (0.0, True, 1.0, False),
    "eps": (0.0, False, None, False),
    "grad_clip": (0.0, True, None, False),  # 0 disables clipping
    "warmup_frac": (0.0, True, 1.0, True),
    "final_lr_frac": (0.0, True, 1.0, True),
    "decay_frac": (0.0, True, 1.0, True),
    "init_std": (0.0, False, None, False),
    "eval_tokens": (1, True, None, False),
    "momentum": (0.0, True, 1.0, False),  # optimizer = "muon" only (TrialConfig refuses it for adamw)
    "adam_lr_ratio": (0.0, False, None, False),
}


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_spec(spec: str | Path, data: str | None = None, vocab_size: int | None = None) -> SweepSpec:
    """Read SPEC: a TOML file path or a preset name. data and vocab_size replace trial.data and
    trial.vocab_size, as if the file said so (the command line's --data and --vocab-size)."""
    path = Path(spec)
    if not path.is_file():
        if str(spec) in preset_names():
            path = PRESET_DIR / f"{spec}.toml"
        else:
            raise SpecError(
                f"no spec file or preset named {str(spec)!r} (presets: {', '.join(preset_names())})"
            )
    try:
        raw = tomllib.loads(read_text(path))  # bounded while reading (a FIFO or /dev/zero says 0 bytes)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not a UTF-8 text file (byte {exc.start}); a TOML spec is UTF-8 text") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    trial = raw.setdefault("trial", {})
    if isinstance(trial, dict):  # anything else is refused by parse_spec, naming [trial]
        trial.update({k: v for k, v in (("data", data), ("vocab_size", vocab_size)) if v is not None})
    try:
        return parse_spec(raw, default_name=path.stem)
    except SpecError as exc:
        raise SpecError(f"{path.name}: {exc}") from None


def parse_spec(raw: dict, default_name: str = "sweep") -> SweepSpec:
    """Validate a spec dict (parsed TOML) into a SweepSpec."""
    top = _Table(raw, "")
    spec = dict(
        name=top.str("name", default_name),
        description=top.str("description", ""),
        device=check_device(top.str("device", "auto")),
        min_steps=top.int("min_steps", 20, minimum=1),
    )
    spec.update(_seeds(top.take("seeds", [0])))
    spec.update(_sizes(top.table("sizes", required=True)))
    spec.update(_budget(top.table("budget", required=True)))
    spec["lr"] = _lr_grid(top.table("lr", required=True))
    spec["batch_seqs"] = _batch_grid(top.table("batch", required=True))
    spec["trial"] = _with_data_vocab(_trial_defaults(top.table("trial")))
    spec["adaptive"] = _adaptive(top.table("adaptive"))
    search = top.table("search")
    spec["prune"] = _prune(search)
    spec["search"] = _search(search, spec)  # and search.done(): every key of [search] read
    top.done()
    _check_budget_fits_batch(spec)
    _check_grid_size(spec)
    return SweepSpec(**spec)


def _check_grid_size(spec: dict) -> None:
    """Refuse a starting grid over MAX_GRID_TRIALS trials, naming the keys that multiply."""
    sizes = sum(len(spec.get(k) or ()) for k in ("rungs", "n_params", "shapes")) or 1
    budgets = sum(len(spec.get(k) or ()) for k in ("tokens_per_param", "tokens", "flops")) or 1
    total = sizes * budgets * len(spec["lr"]) * len(spec["batch_seqs"]) * len(spec["seeds"])
    if total > MAX_GRID_TRIALS:
        raise SpecError(f"the grid is {total:,} trials (sizes x budget x lr x batch.seqs x seeds); at most "
                        f"{MAX_GRID_TRIALS:,}: shorten the lists or lr.points")


class _Table:
    """Typed, key-checked access to one TOML table; `done` rejects keys nobody asked for."""

    def __init__(self, raw, prefix: str):
        if not isinstance(raw, dict):
            raise SpecError(f"[{prefix}] must be a table, got {type(raw).__name__}")
        self.raw, self.prefix, self.seen = raw, prefix, set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def take(self, name, default=None):
        self.seen.add(name)
        return self.raw.get(name, default)

    def has(self, name) -> bool:
        return name in self.raw

    def table(self, name, required=False) -> "_Table":
        if required and name not in self.raw:
            raise SpecError(f"missing required table [{self.key(name)}]")
        return _Table(self.take(name, {}), self.key(name))

    def str(self, name, default):
        value = self.take(name, default)
        if not isinstance(value, str):
            raise SpecError(f"{self.key(name)} must be a string, got {value!r}")
        return value

    def bool(self, name, default):
        value = self.take(name, default)
        if not isinstance(value, bool):
            raise SpecError(f"{self.key(name)} must be true or false, got {value!r}")
        return value

    def int(self, name, default, minimum=None, maximum=MAX_COUNT):
        value = self.take(name, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.key(name)} must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise SpecError(f"{self.key(name)} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:  # a grid or a budget this large would never be planned
            raise SpecError(f"{self.key(name)} must be at most {maximum:,}, got {value:,}")
        return value

    def positive(self, name, default):
        value = self.take(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
            raise SpecError(f"{self.key(name)} must be a positive number, got {value!r}")
        return float(value)

    def numbers(self, name, integer=False) -> tuple:
        """A non-empty list of positive numbers (absent: empty tuple)."""
        if name not in self.raw:
            self.seen.add(name)
            return ()
        values = self.take(name)
        if not isinstance(values, list) or not values:
            raise SpecError(f"{self.key(name)} must be a non-empty list, got {values!r}")
        if len(values) > MAX_GRID_POINTS:
            raise SpecError(f"{self.key(name)} lists {len(values):,} values; at most {MAX_GRID_POINTS:,}")
        out = []
        for v in values:
            ok = is_number(v) and v > 0
            if integer:
                ok = ok and float(v).is_integer()
            if not ok:
                kind = "positive integers" if integer else "positive numbers"
                raise SpecError(f"{self.key(name)} must hold {kind}, got {v!r}")
            out.append(int(v) if integer else float(v))
        if len(set(out)) != len(out):
            raise SpecError(f"{self.key(name)} has duplicate values: {values!r}")
        return tuple(out)

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise SpecError(f"unknown key {self.key(unknown[0])!r} (known here: {known})")


def check_device(value: str) -> str:
    if value in ("auto", "cpu", "mps", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise SpecError(f"device must be {DEVICES_HELP}, got {value!r}")


def _seeds(value) -> dict:
    if isinstance(value, list):
        value = {"values": value}
    t = _Table(value, "seeds")
    values = t.take("values", [0])
    extra = t.take("extra", [])
    smallest = t.int("extra_smallest", 0, minimum=0)
    near_best = t.int("extra_near_best", 0, minimum=0)
    t.done()
    for key, seeds in (("seeds.values", values), ("seeds.extra", extra)):
        if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise SpecError(f"{key} must be a list of non-negative integers, got {seeds!r}")
        if len(seeds) > MAX_GRID_POINTS or any(s > MAX_SEED for s in seeds):
            raise SpecError(f"{key} must hold at most {MAX_GRID_POINTS:,} seeds, each at most {MAX_SEED:,} "
                            f"(what the random generators take)")
    if not values:
        raise SpecError("seeds.values must not be empty")
    if len(set(values + extra)) != len(values) + len(extra):
        raise SpecError(f"seeds: duplicate seeds in values {values} and extra {extra}")
    if extra and not (smallest or near_best):
        raise SpecError("seeds.extra needs seeds.extra_smallest (how many of the smallest sizes get them) "
                        "or seeds.extra_near_best (how many best points of each cell get them)")
    if (smallest or near_best) and not extra:
        raise SpecError("seeds.extra_smallest and seeds.extra_near_best need seeds.extra (the seeds to add)")
    return {"seeds": tuple(values), "extra_seeds": tuple(extra), "extra_seeds_smallest": smallest,
            "extra_seeds_near_best": near_best}


def _sizes(t: _Table) -> dict:
    rungs = t.take("rungs", [])
    if not isinstance(rungs, list) or not all(isinstance(r, str) for r in rungs):
        raise SpecError(f"sizes.rungs must be a list of rung names, got {rungs!r}")
    n_params = t.numbers("n_params")
    shapes = []
    for i, s in enumerate(t.take("shapes", [])):
        st = _Table(s, f"sizes.shapes[{i}]")
        shapes.append(tuple(st.int(k, None, minimum=1) for k in SHAPE_FIELDS))
        st.done()
        _check_heads(shapes[-1], f"sizes.shapes[{i}]")
    t.done()
    if not (rungs or n_params or shapes):
        raise SpecError("[sizes] needs at least one of rungs, n_params, shapes")
    return {"rungs": tuple(rungs), "n_params": n_params, "shapes": tuple(shapes)}


def _check_heads(shape: tuple, key: str) -> None:
    """d_model splits into n_head heads of an even size (rotary embeddings rotate pairs of dimensions)."""
    _, d_model, n_head, _ = shape
    if d_model % n_head:
        raise SpecError(f"{key}: d_model {d_model} is not divisible by n_head {n_head}")
    if (d_model // n_head) % 2:
        raise SpecError(f"{key}: head dim {d_model // n_head} (d_model {d_model} / n_head {n_head}) must be even "
                        "for rotary position embeddings")


def _budget(t: _Table) -> dict:
    out = {"tokens_per_param": t.numbers("tokens_per_param"), "tokens": t.numbers("tokens"), "flops": t.numbers("flops")}
    out["tokens"] = tuple(int(v) for v in out["tokens"])
    t.done()
    if not any(out.values()):
        raise SpecError("[budget] needs at least one of tokens_per_param, tokens, flops")
    return out


def _lr_grid(t: _Table) -> tuple:
    if t.has("values"):
        if any(t.has(k) for k in ("min", "max", "points")):
            raise SpecError("[lr] takes either values or min/max/points, not both")
        grid = t.numbers("values")
    else:
        lo, hi = t.positive("min", None), t.positive("max", None)
        points = t.int("points", None, minimum=2, maximum=MAX_GRID_POINTS)
        if not hi > lo:
            raise SpecError(f"lr.max ({hi}) must be larger than lr.min ({lo})")
        grid = tuple(float(f"{lo * (hi / lo) ** (i / (points - 1)):.6g}") for i in range(points))
    t.done()
    return tuple(sorted(grid))


def _batch_grid(t: _Table) -> tuple:
    grid = t.numbers("seqs", integer=True)
    t.done()
    if not grid:
        raise SpecError("[batch] needs seqs, a list of sequences per step")
    return tuple(sorted(grid))


def _trial_defaults(t: _Table) -> dict:
    fields = {f.name: f for f in dataclasses.fields(TrialConfig)}
    out = {}
    for key, value in t.raw.items():
        if key in GRID_FIELDS:
            raise SpecError(f"trial.{key} is set by the sweep grid ([sizes], [budget], [lr], [batch], seeds)")
        if key not in fields:
            raise SpecError(f"unknown key 'trial.{key}' (not a TrialConfig field)")
        expected = type(getattr(TrialConfig(n_layer=1, d_model=8, n_head=1, d_ff=8), key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise SpecError(f"trial.{key} must be {expected.__name__}, got {value!r}")
        _check_range(key, value)
        out[key] = value
        t.take(key)
    try:  # let the contract's own checks speak, naming the field (the budget is checked against the batch later)
        TrialConfig(n_layer=1, d_model=8, n_head=1, d_ff=8, tokens=2**62, batch_seqs=1, **out)
    except ValueError as exc:
        raise SpecError(f"[trial]: {exc}") from None
    t.done()
    check_data(out.get("data", "kjv"))
    return out


def _check_range(key: str, value) -> None:
    """A [trial] number inside its range (TRIAL_RANGES), finite: checked before any trial trains."""
    if key not in TRIAL_RANGES:
        return
    low, low_closed, high, high_closed = TRIAL_RANGES[key]
    ok = math.isfinite(value) and (value >= low if low_closed else value > low)
    if high is not None:
        ok = ok and (value <= high if high_closed else value < high)
    if not ok:
        left = f"[{low:g}" if low_closed else f"({low:g}"
        right = "inf)" if high is None else f"{high:g}]" if high_closed else f"{high:g})"
        raise SpecError(f"trial.{key} must be in {left}, {right}, got {value!r}")


def _with_data_vocab(trial: dict) -> dict:
    """The model's vocabulary follows the data: for uint16 token files without trial.vocab_size it is
    the data's (meta.pkl's, else the largest id + 1) rounded up to a multiple of 64; an explicit
    vocabulary must hold the data's. Byte-level sources keep the default 256 (and their spec hash)."""
    from calibration.proxy.vocab import BYTE_VOCAB, model_vocab, token_file_vocab

    try:
        need = token_file_vocab(trial.get("data", "kjv"))
    except ValueError as exc:
        raise SpecError(f"trial.data: {exc}") from None
    if "vocab_size" in trial:
        if trial["vocab_size"] < (need or BYTE_VOCAB):
            raise SpecError(f"trial.vocab_size {trial['vocab_size']} is smaller than the data's vocabulary "
                            f"({need or BYTE_VOCAB}); leave it out to follow the data")
        return trial
    return trial if need is None else {**trial, "vocab_size": model_vocab(need)}


def check_data(data: str) -> None:
    """The token source must exist (checked here, not loaded: a corpus may be large)."""
    if data == "kjv":
        return  # the shipped corpus (data.load_corpus reports it if an install lost it)
    path = Path(data).expanduser()
    hint = 'use "kjv" (the shipped corpus), a text or .bin file, or a folder'
    if not path.exists():
        raise SpecError(f"trial.data: {data!r} does not exist ({hint}; relative paths are from the current folder)")
    if path.is_file() and path.stat().st_size == 0:
        raise SpecError(f"trial.data: {data!r} is an empty file")
    if path.is_dir() and not any(path.iterdir()):
        raise SpecError(f"trial.data: {data!r} is an empty folder ({hint})")


def _check_budget_fits_batch(spec: dict) -> None:
    """Absolute token budgets against the largest batch (per-size budgets are checked by sweep.plan)."""
    seq_len = spec["trial"].get("seq_len", TrialConfig.__dataclass_fields__["seq_len"].default)
    if not spec["tokens"]:
        return
    tokens, batch = min(spec["tokens"]), max(spec["batch_seqs"])
    steps = tokens // (batch * seq_len)
    if steps < spec["min_steps"]:
        raise SpecError(
            f"budget.tokens {tokens:,} with batch.seqs {batch} x trial.seq_len {seq_len} = {batch * seq_len:,} "
            f"tokens per step gives {steps} steps, under min_steps {spec['min_steps']}: raise the budget, "
            "lower the batch grid, trial.seq_len or min_steps"
        )


def _adaptive(t: _Table) -> AdaptiveSettings:
    d = AdaptiveSettings()
    a = AdaptiveSettings(
        extend=t.bool("extend", d.extend),
        extend_batch=t.bool("extend_batch", d.extend_batch),
        max_extensions=t.int("max_extensions", d.max_extensions, minimum=0, maximum=MAX_GRID_POINTS),
        lr_min=t.positive("lr_min", d.lr_min),
        lr_max=t.positive("lr_max", d.lr_max),
        batch_min=t.int("batch_min", d.batch_min, minimum=1),
        batch_max=t.int("batch_max", d.batch_max, minimum=1),
        refine=t.bool("refine", d.refine),
    )
    t.done()
    if a.lr_min >= a.lr_max:
        raise SpecError(f"adaptive.lr_min ({a.lr_min}) must be below adaptive.lr_max ({a.lr_max})")
    if a.batch_min > a.batch_max:
        raise SpecError(f"adaptive.batch_min ({a.batch_min}) must not exceed adaptive.batch_max ({a.batch_max})")
    return a


def _search(t: _Table, spec: dict) -> SearchSettings:
    """[search]: the method, one of the registry's (calibration/sweep/search.py), the budget and rounds it
    reads, and its own checks (a budget at least what one cell's local fit needs, its libraries)."""
    method = t.str("method", "grid")
    if method not in METHODS:
        raise SpecError(f"search.method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "grid":
        if t.has("trials_per_cell"):
            raise SpecError("search.trials_per_cell sets a sobol, tpe or coord search's budget; the grid trains [lr] x [batch]")
        t.done()
        return SearchSettings()
    budget = t.int("trials_per_cell", None, minimum=1) if t.has("trials_per_cell") else None
    if budget is None:
        raise SpecError(f"search.method {method!r} needs search.trials_per_cell (points per cell)")
    entry = SEARCHES[method]
    initial = t.int("initial_trials", entry.default_initial(budget), minimum=1) if entry.rounds else budget
    rounds = t.int("round_trials", 2, minimum=1) if entry.rounds else 0
    settings = SearchSettings(method, budget, t.int("seed", spec["seeds"][0], minimum=0, maximum=MAX_SEED), initial,
                              rounds)
    t.done()
    entry.check(settings, spec["lr"], spec["batch_seqs"], spec["extra_seeds"])
    return settings


# ---------------------------------------------------------------- [search] pruning keys

PRUNE_METHODS = ("asha",)
PRUNE_KEYS = ("rungs", "eta", "margin", "min_trials")


def _prune(t: _Table) -> PruneSettings:
    """The [search] table's prune keys (its other keys are read beside them)."""
    d = PruneSettings()
    method = t.str("prune", "none")
    if method not in ("none",) + PRUNE_METHODS:
        raise SpecError(f"search.prune must be one of none, {', '.join(PRUNE_METHODS)}, got {method!r}")
    if method == "none":
        given = [k for k in PRUNE_KEYS if t.has(k)]
        if given:
            raise SpecError(f"search.{given[0]} needs search.prune = \"asha\" (pruning is off)")
        return d
    rungs = t.numbers("rungs") or d.rungs
    if any(r >= 1.0 for r in rungs) or list(rungs) != sorted(rungs):
        raise SpecError(f"search.rungs must be ascending fractions of the run in (0, 1), got {list(rungs)}")
    eta = t.positive("eta", d.eta)
    if eta <= 1.0:
        raise SpecError(f"search.eta must be above 1 (a trial goes on while in the best 1/eta), got {eta:g}")
    margin = t.take("margin", d.margin)
    if isinstance(margin, bool) or not is_number(margin) or not 0 <= margin < math.inf:
        raise SpecError(f"search.margin must be a fraction >= 0 of the rung's best loss, got {margin!r}")
    return PruneSettings(method, tuple(rungs), eta, float(margin), t.int("min_trials", d.min_trials, minimum=1))
