"""The advice commands end to end (CliRunner): text and JSON output, one-line errors, no tracebacks,
and import hygiene (a subprocess runs `recommend` and checks that nothing heavy was imported)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

import advisor.recipe as recipe
from advisor.cli import cli
from advisor_fixtures import modified, synthetic_model_doc, write_model

REQUIRED_KEYS = {"lr", "lr_low", "lr_high", "batch_tokens", "batch_tokens_low", "batch_tokens_high", "batch_seqs",
                 "n_params", "tokens", "flops", "warmup_steps", "steps", "weight_decay", "beta2"}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return str(write_model(tmp_path_factory.mktemp("model") / "model.json"))


@pytest.fixture(autouse=True)
def no_default_model(tmp_path, monkeypatch):
    """Tests never depend on which default model the catalog names, or whether it has shipped."""
    monkeypatch.setattr(recipe, "default_model_path", lambda: tmp_path / "absent" / "model.json")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, fragment):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.stderr


def test_recommend_text(model_file):
    result = run("recommend", "--params", "7B", "--tokens", "2T", "--model", model_file, "--explain")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for fragment in ("peak LR", "90% interval", "sequences × 4,096", "law optimum", "steps", "warmup",
                     "cosine", "β2", "weight decay", "grad clip", "Extrapolation beyond the fitted range",
                     "proxies were trained with", "× the training steps", "Porian", "Warnings:",
                     "far extrapolation"):
        assert fragment in out, fragment


def test_recommend_json_keys_and_values(model_file):
    result = run("recommend", "--params", "7B", "--tokens", "2T", "--model", model_file, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert REQUIRED_KEYS <= set(data)
    assert data["n_params_total"] == 7e9 and data["tokens"] == 2e12 and data["seq_len"] == 4096
    assert data["lr_low"] < data["lr"] < data["lr_high"]
    assert isinstance(data["batch_seqs"], int)
    assert data["extrapolation"]["n_params"] > 1


def test_recommend_default_tokens_say_where_they_come_from(model_file):
    data = json.loads(run("recommend", "--params", "1B", "--model", model_file, "--json").stdout)
    assert "compute-optimal" in data["tokens_source"]
    data = json.loads(run("recommend", "--params", "1B", "--hp-law", "steplaw", "--json").stdout)
    assert data["tokens"] == pytest.approx(2e10) and "20 tokens per" in data["tokens_source"]


def test_recommend_with_a_published_law():
    result = run("recommend", "--params", "7B", "--tokens", "2T", "--hp-law", "deepseek")
    assert result.exit_code == 0 and "DeepSeek LLM" in result.stdout and "no interval" in result.stdout


def test_compare_table(model_file):
    result = run("compare", "--params", "7B", "--tokens", "2T", "--model", model_file)
    assert result.exit_code == 0, result.output
    for fragment in ("this model", "DeepSeek LLM", "Step Law", "Kaplan et al.", "Porian et al.",
                     "2401.02954", "2503.04715", "2001.08361", "2406.19146", "batch seqs", "left out"):
        assert fragment in result.stdout, fragment


def test_compare_json_converts_batch_units_consistently(model_file):
    result = run("compare", "--params", "7B", "--tokens", "2T", "--seq-len", "2048", "--model", model_file, "--json")
    table = json.loads(result.stdout)
    rows = {r["key"]: r for r in table["rows"]}
    assert set(rows) == {"model", "deepseek", "steplaw", "kaplan", "porian"}
    for row in rows.values():
        if row["batch_tokens"] is not None:
            assert row["batch_seqs"] == pytest.approx(row["batch_tokens"] / 2048)
    assert rows["porian"]["lr"] is None and rows["porian"]["batch_tokens"] is None
    assert rows["steplaw"]["lr"] == pytest.approx(1.79 * table["n_params"] ** -0.713 * 2e12**0.307)


def test_plan_from_gpus_and_days(model_file):
    result = run("plan", "--gpus", "512", "--days", "30", "--gpu", "h100", "--loss-law", "chinchilla", "--model", model_file)
    assert result.exit_code == 0, result.output
    for fragment in ("compute-optimal", "Chinchilla", "GPU-hours", "memory/GPU", "AdamW state",
                     "gradient-accumulation", "Recipe", "peak LR"):
        assert fragment in result.stdout, fragment


def test_plan_size_json(model_file):
    result = run("plan", "--params", "7B", "--tokens", "2T", "--gpus", "256", "--price-per-gpu-hour", "2.5",
                 "--model", model_file, "--json")
    data = json.loads(result.stdout)
    assert data["mode"] == "size" and data["cost"] == pytest.approx(2.5 * data["gpu_hours"])
    m = data["memory"]
    assert m["micro_batch"] * m["grad_accum"] * 256 == data["recommendation"]["batch_seqs"]
    assert REQUIRED_KEYS <= set(data["recommendation"])


def test_show_text_and_json(model_file):
    result = run("show", model_file)
    assert result.exit_code == 0, result.output
    for fragment in ("Provenance:", "Fit range:", "a*N^alpha*D^beta", "alternative", "CV |log2 err|",
                     "held out largest", "loss regret", "Warnings:"):
        assert fragment in result.stdout, fragment
    data = json.loads(run("show", model_file, "--json").stdout)
    assert data["laws"]["lr"]["log_coef_90"][1][0] < data["laws"]["lr"]["log_coef"][1] < data["laws"]["lr"]["log_coef_90"][1][1]
    assert "samples" not in json.dumps(data["laws"]["lr"]).replace("n_samples", "")


def test_help_teaches_with_examples():
    for command in ("recommend", "plan", "compare", "show"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Examples:" in result.stdout


@pytest.mark.parametrize("args, fragment", [
    (["recommend", "--params", "7X", "--tokens", "2T"], "cannot read '7X'"),
    (["recommend", "--params", "-3B", "--tokens", "2T"], "positive"),
    (["recommend", "--params", "", "--tokens", "2T"], "empty"),
    (["recommend", "--params", "1e400", "--tokens", "2T"], "finite"),
    (["recommend", "--params", "nan", "--tokens", "2T"], "cannot read"),
    (["recommend", "--params", "7B", "--tokens", "2T", "--seq-len", "inf"], "--seq-len"),
    (["recommend", "--params", "7B", "--tokens", "1000"], "larger than the training tokens"),
    (["recommend", "--tokens", "2T"], "target size"),
    (["recommend", "--params", "1e20", "--tokens", "2T"], "beyond what this tool models"),
    (["plan", "--flops", "1e23", "--gpu", "tpu9"], "--gpu: must be one of b200"),
    (["plan", "--gpus", "8"], "one budget"),
    (["compare", "--tokens", "2T"], "target size"),
])
def test_bad_input_is_one_line_exit_2(model_file, args, fragment):
    assert_one_line_error(run(*args, "--model", model_file), fragment)


def test_missing_default_model_is_one_line_exit_2():
    for args in (["recommend", "--params", "7B"], ["compare", "--params", "7B"], ["show"],
                 ["plan", "--flops", "1e23"]):
        assert_one_line_error(run(*args), "no default model")


def _bad_model(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_bad_model_files_are_one_line_exit_2(tmp_path, model_file):
    doc = synthetic_model_doc()
    full = json.dumps(doc)
    cases = {
        "missing": (str(tmp_path / "nope.json"), "not found"),
        "truncated": (_bad_model(tmp_path, "cut.json", full[: len(full) // 3]), "not valid JSON"),
        "version": (_bad_model(tmp_path, "v9.json", json.dumps(modified(doc, "version", 9))), "version"),
        "schema": (_bad_model(tmp_path, "s.json", json.dumps(modified(doc, "schema", "x"))), "schema"),
        "nan": (_bad_model(tmp_path, "nan.json", json.dumps(modified(doc, "laws.lr.log_coef", [float("nan"), 0, 0]))),
                "non-finite"),
    }
    for path, fragment in cases.values():
        for command in (["recommend", "--params", "7B", "--tokens", "2T", "--model", path], ["show", path]):
            assert_one_line_error(run(*command), fragment)


NUMBERS = st.one_of(
    st.sampled_from(["7B", "2T", "1", "0", "-1", "nan", "inf", "1e400", "", "4096", "1,000", "0.5", "1e-300", "1e30"]),
    st.text(max_size=8),
)
OPTIONS = {
    "recommend": ["--params", "--tokens", "--tokens-per-param", "--seq-len", "--vocab-size", "--n-params-nonembedding",
                  "--law", "--hp-law", "--tau-frac"],
    "plan": ["--flops", "--gpu-hours", "--gpus", "--days", "--gpu", "--mfu", "--params", "--tokens", "--seq-len",
             "--law", "--loss-law", "--hp-law", "--price-per-gpu-hour", "--sharding"],
    "compare": ["--params", "--tokens", "--seq-len", "--vocab-size", "--n-params-nonembedding"],
}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    names = draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=4, unique=True))
    args = [command]
    for name in names:
        args += [name, draw(NUMBERS)]
    if draw(st.booleans()):
        args.append("--json")
    return args


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command_lines(), st.booleans())
def test_no_input_produces_a_traceback(model_file, args, with_model):
    if with_model and "--law" not in args and "--hp-law" not in args:
        args = args + ["--model", model_file]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 2), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=12))
def test_show_never_tracebacks_on_any_path(path):
    result = CliRunner().invoke(cli, ["show", "--", path])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_recommend_imports_nothing_heavy(model_file):
    script = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from advisor.cli import cli
        result = CliRunner().invoke(cli, ["recommend", "--params", "7B", "--tokens", "2T", "--model", {model_file!r}])
        assert result.exit_code == 0, result.output
        heavy = ("torch", "pandas", "sklearn", "scipy", "calibration", "numpy", "matplotlib")
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"recommend imported: {out.stdout.strip()}"


def test_edge_bound_batch_law_is_not_shown_as_the_models_answer(tmp_path):
    doc = synthetic_model_doc()
    doc["laws"]["batch"]["n_edge_cells"] = doc["laws"]["batch"]["n_cells"] = 8
    path = str(write_model(tmp_path / "edge.json", doc))
    table = json.loads(run("compare", "--params", "7B", "--tokens", "2T", "--model", path, "--json").output)
    mine = table["rows"][0]
    assert mine["key"] == "model" and mine["batch_tokens"] is None and mine["lr"] > 0
    assert any("bound" in note for note in mine["notes"])
    text = run("recommend", "--params", "7B", "--tokens", "2T", "--model", path, "--explain").output
    assert "deepseek law's optimum" in text and "not used: a bound" in text and "no interval" in text
    shown = run("show", path).output
    assert "not used for advice" in shown


def test_too_small_a_model_is_refused_not_computed():
    for args in (["recommend", "--params", "1M"], ["recommend", "--params", "50M", "--vocab-size", "256000"],
                 ["plan", "--flops", "1e10", "--loss-law", "chinchilla"]):
        result = run(*args)
        assert result.exit_code == 2 and "less than one layer" in result.output, args


def test_far_extrapolation_gets_a_caution_banner_first(tmp_path):
    path = str(write_model(tmp_path / "m.json"))
    text = run("recommend", "--params", "7B", "--tokens", "2T", "--model", path, "-v").output
    assert text.startswith("CAUTION: this extrapolates")


def test_plan_law_mixup_and_directory_model_get_pointed_answers(tmp_path):
    result = run("plan", "--gpus", "8", "--days", "1", "--loss-law", "steplaw")
    assert result.exit_code == 2 and "--hp-law steplaw" in result.output
    result = run("recommend", "--params", "7B", "--model", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.output


def test_kaplan_batch_is_shown_as_its_critical_batch():
    """Kaplan et al.'s law gives the critical batch B_crit(L), not a loss-optimal batch: the output says so."""
    for args in ((), ("--explain",)):
        text = run("recommend", "--params", "7B", "--tokens", "2T", "--hp-law", "kaplan", *args).output
        assert "critical batch" in text and "optimum" not in text.split("batch", 1)[1].split("\n")[0]
    deepseek = run("recommend", "--params", "7B", "--tokens", "2T", "--hp-law", "deepseek").output
    assert "(optimum " in deepseek and "critical" not in deepseek


# (API keyword arguments, what the API's error says, CLI arguments, what the CLI's error says): the Python API
# names its parameters, the CLI the flags people typed (advisor/cli/flags.py maps one to the other).
NAMED_ERRORS = [
    (dict(params="7B", n_params_nonembedding="6e9", tokens="2T"),
     "give exactly one of params= (total) or n_params_nonembedding=",
     ["--params", "7B", "--n-params-nonembedding", "6e9", "--tokens", "2T"],
     "give exactly one of --params (total) or --n-params-nonembedding"),
    (dict(params="7B", tokens="2T", tokens_per_param="20", law="deepseek"), "give either tokens= or tokens_per_param=, not both",
     ["--params", "7B", "--tokens", "2T", "--tokens-per-param", "20", "--hp-law", "deepseek"],
     "give either --tokens or --tokens-per-param, not both"),
    (dict(params="16B", active_params="20B", tokens="2T"), "active_params=20B is larger than the total params=16B:",
     ["--params", "16B", "--active-params", "20B", "--tokens", "2T"], "--active-params 20B is larger than the total --params 16B:"),
    (dict(params="7B", tokens="2T", seq_len="3T", law="deepseek"), "seq_len=3000000000000 is larger than the training tokens",
     ["--params", "7B", "--tokens", "2T", "--seq-len", "3T", "--hp-law", "deepseek"],
     "--seq-len 3000000000000 is larger than the training tokens"),
    (dict(params="16B", active_params="2.8B", tokens="2T", law="steplaw"),
     "law= cannot serve an MoE target: the published laws were fitted on dense models; drop law= (the shipped MoE "
     "model serves active_params=)", ["--params", "16B", "--active-params", "2.8B", "--tokens", "2T", "--hp-law", "steplaw"],
     "--hp-law cannot serve an MoE target: the published laws were fitted on dense models; drop --hp-law (the shipped "
     "MoE model serves --active-params)"),
    (dict(params="7B", tokens="abc", law="deepseek"), "tokens=: cannot read 'abc'",
     ["--params", "7B", "--tokens", "abc", "--hp-law", "deepseek"], "--tokens: cannot read 'abc'"),
]


@pytest.mark.parametrize("kwargs, api_text, args, cli_text", NAMED_ERRORS)
def test_api_errors_name_parameters_and_cli_errors_name_flags(kwargs, api_text, args, cli_text):
    with pytest.raises(ValueError) as raised:  # AdvisorError or UnitError
        recipe.recommend(**kwargs)
    assert api_text in str(raised.value) and "--" not in str(raised.value)
    result = run("recommend", *args)
    assert_one_line_error(result, cli_text)
    assert "=" not in result.output.split("Error: ", 1)[1].split(" (")[0]


def test_a_parameter_the_command_lacks_keeps_the_recipes_flag_name():
    """`compare` has no --tokens-per-param, but the recipe's refusal names it, as `recommend` spells it."""
    from advisor.cli.flags import flag_message
    from advisor.cli.compare import compare

    assert flag_message("needs tokens= or tokens_per_param=: x", compare) == "needs --tokens or --tokens-per-param: x"
    assert flag_message("w=1 and path run=3 stay", compare) == "w=1 and path run=3 stay"


def test_the_cli_knows_every_parameter_of_the_recipe_api():
    import inspect

    from advisor.cli.flags import API_PARAMETERS

    assert set(API_PARAMETERS) == set(inspect.signature(recipe.recommend).parameters)


def test_plan_and_check_apis_name_parameters_and_their_commands_name_flags(model_file):
    from advisor.checking import check
    from advisor.planning import plan

    with pytest.raises(ValueError, match=r"^tokens= needs params= \(a size\), not a budget$"):
        plan(flops="1e23", tokens="2T")
    assert_one_line_error(run("plan", "--flops", "1e23", "--tokens", "2T"), "--tokens needs --params (a size), not a budget")
    with pytest.raises(ValueError, match=r"^lr=3 is not a plausible peak learning rate"):
        check("7B", "2T", lr=3, batch="4M", model=model_file)
    assert_one_line_error(run("check", "--params", "7B", "--tokens", "2T", "--lr", "3", "--batch", "4M", "--model",
                              model_file), "--lr 3 is not a plausible peak learning rate")
