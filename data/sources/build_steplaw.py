"""Rebuild the shipped Step Law sources from the authors' released CSVs.

    python3 data/sources/build_steplaw.py UPSTREAM_DIR            # write the tables and catalog entries
    python3 data/sources/build_steplaw.py UPSTREAM_DIR --check    # verify the shipped files equal a rebuild

UPSTREAM_DIR holds `dense_lr_bs_loss.csv` and `moe_lr_bs_loss.csv` from github.com/step-law/steplaw
(folder `data/`, commit below). Each file's sha256 must equal the recorded one; a mismatch, a missing file
or a missing column prints one line on stderr and exits 2 with nothing written. `--check` exits 1 when a
shipped table or catalog entry differs from the rebuild. Pure standard library: the conversion is plain
arithmetic on the upstream strings and must give the same bytes on any machine.

Column mapping, units and terms: data/sources/steplaw-dense/README.md and steplaw-moe/README.md.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = "github.com/step-law/steplaw"
COMMIT = "32a8f4cc50247695fb56cc6c9117abdf67c97763"
CODE_VERSION = f"steplaw@{COMMIT[:7]}"
SEQ_LEN = 2048  # upstream `bs` counts sequences of 2048 tokens (the MoE file says so in its seq_len column)
TOKENIZER = "unknown"  # neither the files nor the paper's text we could check name it
PUBLISHED_LAW = "steplaw"  # key of the authors' own law in advisor/laws.py HYPERPARAMETER_LAWS
CITATION = (
    "Houyi Li, Wenzheng Zheng, Jingcheng Hu, Qiufeng Wang, Hanshan Zhang, Zili Wang, Yangshijie Xu, "
    "Shuigeng Zhou, Xiangyu Zhang, Daxin Jiang: Predictable Scale: Part I -- Optimal Hyperparameter Scaling "
    "Law in Large Language Model Pretraining, arXiv 2503.04715 (2025)"
)
TERMS = (
    "Released by the authors 'to support reproducibility and advance the field'; the repository carries no "
    "licence file, so no licence is granted beyond that. Credit the authors and cite the paper wherever the "
    "data or anything derived from it is shipped or shown."
)

# contract 1 (docs/architecture.md) in the order of our own export, then what a source adds.
CONTRACT_COLUMNS = (
    "trial_id", "status", "n_params", "n_params_total", "n_layer", "d_model", "n_head", "d_ff", "seq_len",
    "tokens", "lr", "batch_tokens", "batch_seqs", "steps", "warmup_steps", "schedule", "weight_decay",
    "beta1", "beta2", "grad_clip", "seed", "loss", "train_loss", "flops", "wall_s", "device", "data_id",
    "code_version", "finished_at",
)
SOURCE_COLUMNS = ("n_params_active", "final_lr", "tokenizer", "source", "upstream_run")
MOE_COLUMNS = ("moe_experts", "moe_topk", "moe_d_expert", "moe_d_shared", "moe_dense_layers")


@dataclass(frozen=True)
class Source:
    name: str
    upstream_file: str
    upstream_sha256: str
    moe: bool
    description: str

    @property
    def required(self) -> tuple[str, ...]:
        dense = ("h", "ffnh", "numh", "numl", "lr", "bs", "ti", "loss", "smooth loss", "exp_name", "D", "N")
        moe = ("seq_len", "topk", "nume", "moeh", "sed", "numld", "Na", "total_time")
        return dense + (moe if self.moe else ())

    @property
    def columns(self) -> tuple[str, ...]:
        return CONTRACT_COLUMNS + SOURCE_COLUMNS + (MOE_COLUMNS if self.moe else ())

    def data_id(self, upstream_sha256: str) -> str:
        return f"{self.name}:{upstream_sha256[:12]}"


SOURCES = (
    Source("steplaw-dense", "dense_lr_bs_loss.csv",
           "9e46181076c04d450294d75dfe6f72adc416e231e154a07b337e378f9410002c", False,
           "Step Law's dense LR x batch sweep: 1,911 runs, 17 (N, D) cells, N 215M-1.07B non-embedding, "
           "D 4B-100B tokens"),
    Source("steplaw-moe", "moe_lr_bs_loss.csv",
           "653d585244a7b227423007e8b796bc16d76f6d24eb87b1919b8f048a91897b92", True,
           "Step Law's MoE LR x batch sweep: 708 runs, 16 cells, 2.15B total / 188M-1.24B active "
           "non-embedding parameters, D 2B-20B tokens"),
)


class BuildError(ValueError):
    """Bad input: one line on stderr, exit code 2, nothing written."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_upstream(upstream_dir: Path, source: Source, expected_sha256: str) -> tuple[list[dict], str]:
    """The upstream rows, after checking the file's sum and columns."""
    path = upstream_dir / source.upstream_file
    try:
        data = path.read_bytes()
    except OSError:
        raise BuildError(f"upstream file not found: {path}") from None
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise BuildError(f"{path}: sha256 {actual} differs from the recorded {expected_sha256}")
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BuildError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in source.required if c not in (reader.fieldnames or [])]
    if missing:
        raise BuildError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows, actual


def _float(row: dict, column: str, line: int) -> float:
    try:
        return float(row[column])
    except (TypeError, ValueError):
        raise BuildError(f"row {line}: column {column!r} is not a number: {row[column]!r}") from None


def _int(row: dict, column: str, line: int) -> int:
    value = _float(row, column, line)
    if not math.isfinite(value) or value != int(value) or value <= 0:
        raise BuildError(f"row {line}: column {column!r} is not a positive integer: {row[column]!r}")
    return int(value)


def _text(value) -> str:
    """One spelling per number (repr round-trips a float; integers without a decimal point)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def final_lr(run_name: str) -> float | None:
    """The `mlr` field of the upstream run name (e.g. `_mlr1.00e-05`), read as the schedule's final LR."""
    match = re.search(r"_mlr([0-9.]+[eE][+-]?[0-9]+|[0-9.]+)(?:_|$)", run_name)
    return float(match.group(1)) if match else None


def run_status(smooth: float, raw: float) -> str:
    usable = all(math.isfinite(x) and x > 0 for x in (smooth, raw))
    return "ok" if usable else "diverged"


def trial_id(source: Source, config: dict) -> str:
    """Stable hash of the run's converted configuration (not of its spelling upstream)."""
    text = json.dumps({"source": source.name, **config}, sort_keys=True)
    return sha256_bytes(text.encode("utf-8"))[:16]


def run_config(row: dict, source: Source, line: int) -> dict:
    """The converted configuration of one upstream run: shape, LR, batch, steps, budget."""
    config = {
        "n_params": _int(row, "N", line), "n_layer": _int(row, "numl", line), "d_model": _int(row, "h", line),
        "n_head": _int(row, "numh", line), "d_ff": _int(row, "ffnh", line),
        "seq_len": _int(row, "seq_len", line) if source.moe else SEQ_LEN, "tokens": _int(row, "D", line),
        "lr": _float(row, "lr", line), "batch_seqs": _int(row, "bs", line), "steps": _int(row, "ti", line),
    }
    if source.moe:
        config.update(n_params_active=_int(row, "Na", line), moe_experts=_int(row, "nume", line),
                      moe_topk=_int(row, "topk", line), moe_d_expert=_int(row, "moeh", line),
                      moe_d_shared=_int(row, "sed", line), moe_dense_layers=_int(row, "numld", line))
    return config


def convert_row(row: dict, source: Source, upstream_sha256: str, line: int) -> dict:
    """One upstream run as a Contract-1 row (fields the files cannot tell are None: written empty)."""
    config = run_config(row, source, line)
    smooth, raw = _float(row, "smooth loss", line), _float(row, "loss", line)
    active = config.get("n_params_active", config["n_params"])  # dense: every parameter is active
    out = dict.fromkeys(source.columns)
    out.update(config)
    out.update(
        trial_id=trial_id(source, config), status=run_status(smooth, raw),
        batch_tokens=config["batch_seqs"] * config["seq_len"],
        loss=smooth, train_loss=raw,  # the paper fits the smoothed final training loss (single epoch)
        flops=6 * active * config["tokens"],  # C = 6·N·D, with the active N for MoE
        wall_s=_float(row, "total_time", line) if source.moe else None,
        data_id=source.data_id(upstream_sha256), code_version=CODE_VERSION,
        n_params_active=active, final_lr=final_lr(row["exp_name"]), tokenizer=TOKENIZER,
        source=source.name, upstream_run=row["exp_name"],
    )
    return out


def convert(rows: list[dict], source: Source, upstream_sha256: str) -> list[dict]:
    """All runs, in upstream order; two runs with one configuration would share a trial_id: refused."""
    out = [convert_row(row, source, upstream_sha256, line) for line, row in enumerate(rows, start=2)]
    seen: dict[str, int] = {}
    for line, row in enumerate(out, start=2):
        if row["trial_id"] in seen:
            raise BuildError(f"rows {seen[row['trial_id']]} and {line} of {source.upstream_file} have one "
                             "configuration")
        seen[row["trial_id"]] = line
    return out


def table_bytes(rows: list[dict], columns: tuple[str, ...]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row[c]) for c in columns])
    return buffer.getvalue().encode("utf-8")


def count_cells(rows: list[dict]) -> int:
    """(N, D) cells; for MoE the active N too (two sparsities share one total N)."""
    return len({(r["n_params"], r["n_params_active"], r["tokens"]) for r in rows})


def catalog_entry(source: Source, rows: list[dict], table: bytes, upstream_sha256: str) -> dict:
    return {
        "name": source.name, "kind": "source", "description": source.description,
        "path": f"sources/{source.name}/trials.csv", "rows": len(rows), "cells": count_cells(rows),
        "diverged": sum(r["status"] != "ok" for r in rows),
        "upstream": REPO, "commit": COMMIT, "upstream_file": f"data/{source.upstream_file}",
        "upstream_sha256": upstream_sha256, "table_sha256": sha256_bytes(table),
        "citation": CITATION, "terms": TERMS, "published_law": PUBLISHED_LAW,
    }


def build(upstream_dir: Path, expected: dict[str, str]) -> list[tuple[Source, bytes, dict]]:
    """(source, table bytes, catalog entry) for every source; raises BuildError before anything is written."""
    built = []
    for source in SOURCES:
        rows, upstream_sha = read_upstream(upstream_dir, source, expected.get(source.upstream_file,
                                                                              source.upstream_sha256))
        converted = convert(rows, source, upstream_sha)
        table = table_bytes(converted, source.columns)
        built.append((source, table, catalog_entry(source, converted, table, upstream_sha)))
    return built


def merged_catalog(catalog: dict, entries: list[dict]) -> dict:
    """The catalog with these source entries replaced in place (or appended); everything else kept,
    including a model that shares a source's name (names are unique per kind)."""
    by_name = {e["name"]: e for e in entries}
    listed = catalog.setdefault("entries", [])
    for i, old in enumerate(listed):
        if isinstance(old, dict) and old.get("kind") == "source" and old.get("name") in by_name:
            listed[i] = by_name.pop(old["name"])
    listed.extend(by_name.values())
    return catalog


def catalog_text(catalog: dict) -> str:
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _load_catalog(path: Path) -> dict:
    if not path.is_file():
        return {"schema": "scaling-advisor/catalog", "version": 1, "entries": []}
    try:
        catalog = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BuildError(f"cannot read the catalog {path}: {exc}") from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("entries", []), list):
        raise BuildError(f"the catalog {path} is not an object with an `entries` list")
    return catalog


def differences(data_dir: Path, built: list[tuple[Source, bytes, dict]]) -> list[str]:
    """What in data_dir differs from the rebuild (empty when the shipped files are byte-identical)."""
    problems = []
    for source, table, _ in built:
        path = data_dir / "sources" / source.name / "trials.csv"
        if not path.is_file() or path.read_bytes() != table:
            problems.append(f"{path} differs from the rebuild (sha256 {sha256_bytes(table)})")
    catalog_path = data_dir / "catalog.json"
    shipped = {e.get("name"): e for e in _load_catalog(catalog_path)["entries"]
               if isinstance(e, dict) and e.get("kind") == "source"}
    for _, _, entry in built:
        if shipped.get(entry["name"]) != entry:
            problems.append(f"{catalog_path}: the entry {entry['name']!r} differs from the rebuild")
    return problems


def _expected_sums(pairs: list[str]) -> dict[str, str]:
    """`--expect-sha FILE=HEX` overrides (tests use them on a small fake upstream)."""
    sums = {}
    for pair in pairs:
        name, sep, hexdigest = pair.partition("=")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
            raise BuildError(f"--expect-sha takes FILE=SHA256 (64 lowercase hex digits), got {pair!r}")
        sums[name] = hexdigest
    return sums


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Rebuild the shipped Step Law sources from the upstream CSVs.")
    parser.add_argument("upstream_dir", type=Path, help="folder with dense_lr_bs_loss.csv and moe_lr_bs_loss.csv")
    parser.add_argument("--check", action="store_true", help="verify the shipped files instead of writing them")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the data/ folder to write or check (default: this checkout's)")
    parser.add_argument("--expect-sha", action="append", default=[], metavar="FILE=SHA256",
                        help="expect this sum for an upstream file instead of the recorded one")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        built = build(args.upstream_dir, _expected_sums(args.expect_sha))
        if args.check:
            problems = differences(args.data_dir, built)
            for line in problems:
                print(f"build_steplaw: {line}", file=sys.stderr)
            return 1 if problems else 0
        catalog_path = args.data_dir / "catalog.json"
        catalog = merged_catalog(_load_catalog(catalog_path), [e for *_, e in built])
    except BuildError as exc:
        print(f"build_steplaw: error: {exc}", file=sys.stderr)
        return 2
    for source, table, entry in built:
        _write_atomic(args.data_dir / "sources" / source.name / "trials.csv", table)
        print(f"{source.name}: {entry['rows']} rows, {entry['cells']} cells, {entry['diverged']} diverged, "
              f"sha256 {entry['table_sha256']}")
    _write_atomic(catalog_path, catalog_text(catalog).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
