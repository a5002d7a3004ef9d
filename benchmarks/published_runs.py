"""Benchmark: the advisor's peak LR and batch size against well-known published pretraining runs.

For each run in data/published_runs.csv (DeepSeek LLM, Llama 2, OLMo, GPT-3, Pythia; every number with its
source in the file) this asks `advisor.recommend` for the run's total parameters, training tokens, sequence
length and vocabulary, and sets our point and 90% interval beside the published peak LR and batch (tokens
per optimizer step): log2(ours/published) and whether the published value lies inside our interval. Then
the mean |log2| error and the count inside the intervals, for LR and for batch.

A published run is one team's choice, not a measured optimum: read the errors as distance from practice.

Run: python benchmarks/published_runs.py [--model NAME_OR_FILE] [--json | --markdown] [--csv FILE]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from advisor.laws import RECOMMEND_LAWS
from advisor.paths import data_dir
from advisor.errors import AdvisorError
from advisor.model import ModelError
from advisor.recipe import recommend
from advisor.units import UnitError
from advisor.units import format_count

NUMERIC = ("params_total", "n_layer", "d_model", "vocab_size", "seq_len", "tokens", "peak_lr", "batch_tokens")
TEXT = ("name", "lr_schedule", "citation", "where", "notes")
# The six Recommendation fields this benchmark reads (interval fields may gain components: use only these).
FIELDS = ("lr", "lr_low", "lr_high", "batch_tokens", "batch_tokens_low", "batch_tokens_high")


class BenchError(ValueError):
    """Bad input to the benchmark (one line, exit 2)."""


def default_csv() -> Path:
    return data_dir() / "published_runs.csv"


def load_runs(path: Path) -> list[dict]:
    """The table's rows with numeric columns as floats; a missing column or bad number is a BenchError."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in NUMERIC + TEXT if c not in (reader.fieldnames or [])]
            if missing:
                raise BenchError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except OSError as e:
        raise BenchError(f"cannot read {path}: {e.strerror or e}") from None
    runs = []
    for i, row in enumerate(rows, start=2):
        run = {k: row[k] for k in TEXT}
        for k in NUMERIC:
            try:
                run[k] = float(row[k])
            except (TypeError, ValueError):
                raise BenchError(f"{path}:{i}: {k} is not a number: {row[k]!r}") from None
            if not (math.isfinite(run[k]) and run[k] > 0):
                raise BenchError(f"{path}:{i}: {k} must be positive, got {row[k]!r}")
        runs.append(run)
    if not runs:
        raise BenchError(f"{path}: no runs")
    return runs


def resolve_source(name: str | None) -> dict:
    """`recommend` keyword arguments for --model: none (the advisor's default model), a fitted-model file, a
    shipped model by name, or a published law (deepseek, steplaw, kaplan)."""
    if name is None:
        return {}
    path = Path(name)
    if path.is_file():
        return {"model": path}
    shipped = shipped_model(name) if path.name == name else None
    if shipped is not None:
        return {"model": shipped}
    key = name.lower().replace(" ", "").replace("-", "").replace("_", "")
    if key in RECOMMEND_LAWS:
        return {"law": key}
    raise BenchError(f"--model {name!r} is neither a file, a shipped model nor a published law "
                     f"({', '.join(RECOMMEND_LAWS)})")


def shipped_model(name: str) -> Path | None:
    """A shipped model's file by name (data/catalog.json, `advisor sources`); None when there is none."""
    from advisor.catalog import CatalogError, entry, entry_path

    try:
        return entry_path(entry(name, "model"))
    except CatalogError:
        return None


def default_label() -> str:
    try:
        from advisor.recipe import default_model_path

        return f"the advisor's default model ({default_model_path()})"
    except Exception:  # the default's location is the advisor's business; the label is only a label
        return "the advisor's default model"


def compare_run(run: dict, source: dict) -> dict:
    """One row: the run, our recommendation (six fields) and the errors against the published values."""
    out = {"name": run["name"], "params_total": run["params_total"], "tokens": run["tokens"],
           "seq_len": int(run["seq_len"]), "vocab_size": int(run["vocab_size"]), "citation": run["citation"],
           "lr_published": run["peak_lr"], "batch_published": run["batch_tokens"]}
    try:
        rec = recommend(run["params_total"], run["tokens"], seq_len=int(run["seq_len"]),
                        vocab_size=int(run["vocab_size"]), **source)
    except (AdvisorError, ModelError, UnitError) as e:
        return {**out, "error": str(e)}
    ours = {k: float(getattr(rec, k)) for k in FIELDS}
    for key, point, low, high in (("lr", "lr", "lr_low", "lr_high"),
                                  ("batch", "batch_tokens", "batch_tokens_low", "batch_tokens_high")):
        published = out[f"{key}_published"]
        out[f"{key}_ours"], out[f"{key}_low"], out[f"{key}_high"] = ours[point], ours[low], ours[high]
        out[f"{key}_log2_error"] = math.log2(ours[point] / published)
        out[f"{key}_inside"] = bool(ours[low] <= published <= ours[high])
    return out


def summarize(rows: list[dict]) -> dict:
    """Mean |log2| error and the count inside the 90% intervals, over the rows that have an answer."""
    ok = [r for r in rows if "error" not in r]
    summary = {"runs": len(rows), "answered": len(ok)}
    for key in ("lr", "batch"):
        errors = [abs(r[f"{key}_log2_error"]) for r in ok]
        summary[f"{key}_mean_abs_log2"] = sum(errors) / len(errors) if errors else math.nan
        summary[f"{key}_inside"] = sum(r[f"{key}_inside"] for r in ok)
    return summary


HEADER = ("run", "tokens", "LR pub.", "LR ours [90%]", "log2", "in", "batch pub.", "batch ours [90%]", "log2", "in")


def tokens(x: float) -> str:
    """A token count as 4.19M; scientific outside 1..1e15 (intervals far from the fit can be absurd)."""
    return format_count(x) if 1 <= x < 1e15 else f"{x:.2g}"


def cells(row: dict) -> list[str]:
    """The table cells of one row (error rows say why in the LR column)."""
    head = [row["name"], tokens(row["tokens"]), f"{row['lr_published']:.2g}"]
    batch_pub = tokens(row["batch_published"])
    if "error" in row:
        return head + [f"error: {row['error']}", "", "", batch_pub, "", "", ""]
    lr = f"{row['lr_ours']:.2g} [{row['lr_low']:.2g}, {row['lr_high']:.2g}]"
    batch = f"{tokens(row['batch_ours'])} [{tokens(row['batch_low'])}, {tokens(row['batch_high'])}]"
    yes = {True: "yes", False: "no"}
    return head + [lr, f"{row['lr_log2_error']:+.2f}", yes[row["lr_inside"]],
                   batch_pub, batch, f"{row['batch_log2_error']:+.2f}", yes[row["batch_inside"]]]


def summary_lines(summary: dict) -> list[str]:
    n = summary["answered"]
    return [f"mean |log2(ours/published)|: LR {summary['lr_mean_abs_log2']:.2f}, "
            f"batch {summary['batch_mean_abs_log2']:.2f}  (over {n} of {summary['runs']} runs)",
            f"published value inside our 90% interval: LR {summary['lr_inside']}/{n}, "
            f"batch {summary['batch_inside']}/{n}"]


def render_text(rows: list[dict], summary: dict, source_label: str) -> str:
    table = [list(HEADER)] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    left = {0, 3, 7}  # text-like columns
    lines = [f"advisor source: {source_label}"]
    for j, line in enumerate(table):
        lines.append("  ".join(c.ljust(w) if i in left else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths))).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + [""] + summary_lines(summary))


def render_markdown(rows: list[dict], summary: dict, source_label: str) -> str:
    align = ["---" if i in {0, 3, 7} else "---:" for i in range(len(HEADER))]
    lines = ["| " + " | ".join(HEADER) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
    notes = [f"Advisor source: {source_label}. log2 = log2(ours/published); \"in\": the published value lies "
             "inside our 90% interval. Sources of every published number: `data/published_runs.csv`."]
    return "\n".join(lines + [""] + [s + "  " for s in summary_lines(summary)] + [""] + notes)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", metavar="NAME_OR_FILE",
                        help="fitted-model JSON, a shipped model's name (data/catalog.json) or a published law "
                             f"({', '.join(RECOMMEND_LAWS)}); default: the advisor's default model")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE",
                        help="table of published runs (default: data/published_runs.csv)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the rows as JSON")
    out.add_argument("--markdown", action="store_true", help="print a GitHub-markdown table for the README")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runs = load_runs(args.csv or default_csv())
        source = resolve_source(args.model)
        rows = [compare_run(run, source) for run in runs]
        if all("error" in r for r in rows):
            raise BenchError(f"no run got an answer: {rows[0]['error']}")
    except (BenchError, AdvisorError, ModelError, UnitError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    label = args.model or default_label()
    summary = summarize(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.markdown:
        print(render_markdown(rows, summary, label))
    else:
        print(render_text(rows, summary, label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
