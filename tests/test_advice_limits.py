"""The advice commands at the edges (issue 14): model files of the wrong shape, impossible runs and
numbers beyond floating point: one line, exit 2, and --json that is always strict JSON."""
from __future__ import annotations

import json

import pytest
from test_cli_advice import model_file, no_default_model, run  # noqa: F401 (fixtures: the same model, no default)

import advisor.recipe as recipe
from advisor_fixtures import synthetic_model_doc, write_model


def assert_one_line_error(result):
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert result.stdout == "" and len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------ item 8: model files of the wrong shape

@pytest.mark.parametrize("key, value", [("warnings", 5), ("warnings", {"code": "x"}), ("cells", "many")])
def test_a_model_whose_lists_are_not_lists_is_refused(tmp_path, key, value):
    doc = synthetic_model_doc()
    doc[key] = value
    path = write_model(tmp_path / "m.json", doc)
    assert_one_line_error(run("recommend", "--params", "1B", "--tokens", "20B", "--model", str(path)))


def test_a_deeply_nested_model_file_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    assert_one_line_error(run("recommend", "--params", "1B", "--tokens", "20B", "--model", str(path)))


# ------------------------------------------------------------------ item 11: impossible runs, overflow

def test_a_run_of_a_few_giant_batches_is_refused(model_file):
    """--seq-len 1e12 with 2T tokens: one sequence is a 1T-token batch, 2 steps."""
    assert_one_line_error(run("recommend", "--params", "7B", "--tokens", "2T", "--seq-len", "1e12",
                              "--model", model_file))


def test_a_batch_rounded_far_above_its_optimum_and_a_short_run_are_warned(model_file):
    base = _strict(run("recommend", "--params", "7B", "--tokens", "2T", "--model", model_file, "--json").stdout)
    assert not {"batch_rounded_up", "few_steps"} & set(base["warning_codes"])
    long_seq = _strict(run("recommend", "--params", "7B", "--tokens", "2T", "--seq-len", "1e9", "--model",
                           model_file, "--json").stdout)
    assert long_seq["batch_tokens_rounded"] > 2 * long_seq["batch_tokens"]
    assert "batch_rounded_up" in long_seq["warning_codes"]
    short = _strict(run("recommend", "--n-params-nonembedding", "1M", "--tokens", "1e7", "--seq-len", "64",
                        "--model", model_file, "--json").stdout)
    assert 10 <= short["steps"] < 1000 and "few_steps" in short["warning_codes"]


@pytest.mark.parametrize("option, value", [("--price-per-gpu-hour", "1e308"), ("--gpus", "1e300"),
                                           ("--mfu", "1e-300")])
def test_plan_refuses_numbers_it_cannot_compute_with(model_file, option, value):
    args = ["plan", "--params", "7B", "--tokens", "2T", "--model", model_file, "--gpus", "256", option, value]
    assert_one_line_error(run(*args))
    assert_one_line_error(run(*args, "--json"))


def test_json_output_is_never_infinity_or_nan(model_file, monkeypatch):
    """Whatever a result holds, --json is strict JSON or a one-line error, never `Infinity`."""
    result = run("plan", "--params", "7B", "--tokens", "2T", "--model", model_file, "--gpus", "256",
                 "--price-per-gpu-hour", "2.5", "--json")
    assert result.exit_code == 0 and _strict(result.stdout)["cost"] > 0
    real = recipe.Recommendation.to_dict
    monkeypatch.setattr(recipe.Recommendation, "to_dict", lambda self: {**real(self), "lr_high": float("inf")})
    assert_one_line_error(run("recommend", "--params", "7B", "--tokens", "2T", "--model", model_file, "--json"))
