"""`advisor sources [NAME]`: what ships in data/ (data/catalog.json): public sweeps converted to our trial
table (sources) and fitted models, with the default model marked.

Light like the other advice commands (click, json). An unknown NAME prints one line and exits 2 (a
CatalogError, which the house style of advisor/cli/style.py reports).
"""
from __future__ import annotations

import click

from advisor import catalog
from advisor.cli.style import StyledCommand, dump_json
from advisor.fitted_setups import setup_line
from advisor.shipped import listing


def _size(row: dict) -> str:
    if row.get("kind") == "source":
        return f"{row.get('rows', 0):,} rows, {row.get('cells', '?')} cells"
    if not row["exists"]:
        return "file missing"
    prov = row.get("provenance", {})
    if "error" in prov:
        return prov["error"]
    if prov.get("setups"):
        return f"fitted on {len(prov['setups'])} setups: " + "; ".join(setup_line(r) for r in prov["setups"])
    trials = prov.get("n_trials_used", prov.get("n_trials"))
    return f"fitted on {f'{trials:,}' if trials else '?'} trials, {prov.get('n_cells', '?')} cells"


def render_listing(table: dict) -> str:
    rows = table["entries"]
    width = max([len(r["name"]) for r in rows] + [4])
    lines = [f"Shipped in {table['catalog']} (* = the default model):", ""]
    for r in rows:
        mark = "*" if r["default"] else " "
        lines.append(f"{mark} {r.get('kind', '?'):<6}  {r['name']:<{width}}  {_size(r)}")
        lines.append(f"  {'':<6}  {'':<{width}}  {r.get('description', '')}")
        if r.get("kind") == "model" and r.get("fitted_on"):
            lines.append(f"  {'':<6}  {'':<{width}}  from: {r['fitted_on']}")
        if r.get("kind") == "source" and isinstance(r.get("setup"), dict):
            lines.append(f"  {'':<6}  {'':<{width}}  setup: {setup_summary(r['setup'])}")
    lines += ["", "Models: `advisor show NAME`, `advisor recommend ... --model NAME`. Sources are trial tables "
              "(`advisor sources NAME` for provenance, terms and citation); cite their authors wherever you "
              "use them."]
    return "\n".join(lines)


def setup_summary(setup: dict) -> str:
    """One line of what a source's runs share: optimizer, sequence length, tokenizer, sizes, budgets."""
    sizes = setup.get("sizes") or {}
    multiples = sorted({m for ms in (setup.get("chinchilla_multiples") or {}).values() for m in ms})
    parts = [setup.get("optimizer_name") or setup.get("optimizer"),
             f"seq {setup['seq_len']}" if setup.get("seq_len") else None,
             str(setup.get("tokenizer", "")).split(" (")[0] or None,
             f"sizes {', '.join(sizes)}" if sizes else None,
             f"{multiples[0]}-{multiples[-1]}x Chinchilla" if multiples else None,
             f"missing: {setup['missing']}" if setup.get("missing") not in (None, "none") else None]
    return "; ".join(str(p) for p in parts if p)


def _setup_lines(setup: dict) -> list[str]:
    lines = ["  setup"]
    for key, value in setup.items():
        if isinstance(value, dict):
            value = "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                              for k, v in value.items())
        lines.append(f"    {key:<20} {value}")
    return lines


def render_entry(row: dict) -> str:
    lines = [f"{row['name']} ({row.get('kind')}{', the default model' if row['default'] else ''})"]
    for key, value in row.items():
        if key == "setup" and isinstance(value, dict):
            lines += _setup_lines(value)
        elif key not in ("name", "kind", "default"):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
            lines.append(f"  {key:<16} {shown}")
    return "\n".join(lines)


@click.command(cls=StyledCommand)
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sources(name, as_json):
    """List the shipped sources (public sweeps as trial tables) and models.

    \b
    Examples:
      advisor sources
      advisor sources steplaw-dense       # one entry: upstream, commit, sums, citation, terms
      advisor sources --json
    """
    table = listing()
    if name is not None:
        catalog.entry(name)  # an unknown name: one line naming the shipped ones, exit 2
        # Names are unique per kind: a source and the model fitted to it may share one.
        table["entries"] = [r for r in table["entries"] if r["name"] == name]
    if as_json:
        dump_json(table)
    elif name is not None:
        click.echo("\n\n".join(render_entry(r) for r in table["entries"]))
    else:
        click.echo(render_listing(table))
