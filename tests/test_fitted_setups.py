"""A cross-setup model's show and sources name every setup it was fitted on (runs, cells, seq_len)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from advisor.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_show_lists_every_setup_of_the_cross_setup_default():
    out = _run("show").output
    assert "steplaw-dense (reference): 1,911 runs, 17 cells" in out and "seq_len 2,048" in out
    assert "marin-adamw: " in out and "of the source's 171" in out and "18 cells" in out and "seq_len 4,096" in out
    assert "are the reference setup steplaw-dense's" in out
    # the edge warning names whose cells it counts, not a bare "of 17" read against the laws' 24 cells
    assert "1 of the reference setup steplaw-dense's 17 cells have the LR optimum on the grid edge" in out


def test_sources_lists_every_setup_of_the_cross_setup_default():
    listing = _run("sources").output
    line = next(ln for ln in listing.splitlines() if "cross-setup" in ln and "fitted on" in ln)
    assert "fitted on 2 setups" in line and "marin-adamw" in line and "seq_len 4,096" in line
    rows = json.loads(_run("sources", "--json").output)["entries"]
    setups = next(r for r in rows if r["name"] == "cross-setup")["provenance"]["setups"]
    assert [s["name"] for s in setups] == ["steplaw-dense", "marin-adamw"]
    assert [s["seq_len"] for s in setups] == [2048, 4096] and setups[1]["source_rows"] == 171


def test_one_setup_model_lists_no_setups():
    assert "setups " not in _run("show", "steplaw-dense").output


def test_cross_fit_names_the_reference_in_the_edge_warning():
    from advisor.coded_warning import CodedWarning
    from calibration.fit.cross_setup import reference_edge_warning

    w = reference_edge_warning(CodedWarning("batch_on_grid_edge", "2 of 9 cells have the batch optimum on the grid "
                                            "edge (down-weighted): extend the batch grid and rerun"), "ref")
    assert w.code == "batch_on_grid_edge" and w.message.startswith("2 of the reference setup ref's 9 cells")
    other = CodedWarning("few_sizes", "only 2 sizes: exponents are weakly determined")
    assert reference_edge_warning(other, "ref") is other
