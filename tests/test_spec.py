"""Sweep specs: presets load and plan, bad keys and values are named, hashes track what is trained."""
from __future__ import annotations

import copy
import math
import time

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.cli import cli
from calibration.sweep.spec import SpecError, load_spec, parse_spec, preset_names
from calibration.proxy.shape import count_params, shape_from_config
from calibration.sweep.plan import plan

BASE = {
    "name": "t",
    "sizes": {"shapes": [{"n_layer": 1, "d_model": 16, "n_head": 1, "d_ff": 32}]},
    "budget": {"tokens": [8192]},
    "lr": {"min": 1e-3, "max": 1e-1, "points": 3},
    "batch": {"seqs": [4, 8]},
    "trial": {"seq_len": 32, "eval_tokens": 1024},
    "min_steps": 5,
}


def with_(path: str, value):
    """BASE with one key set (path 'table.key' or 'key'); value None deletes it."""
    raw = copy.deepcopy(BASE)
    *tables, key = path.split(".")
    node = raw
    for t in tables:
        node = node.setdefault(t, {})
    if value is None:
        node.pop(key)
    else:
        node[key] = value
    return raw


def test_presets_load_and_plan():
    assert {"quick", "cpu-default", "gpu-default", "cluster"} <= set(preset_names())
    for name in preset_names():
        p = plan(load_spec(name))
        assert len(p.trials) * p.budget_scale >= 60 and p.total_flops > 0  # a search: all its rounds
    quick = plan(load_spec("quick"))
    sizes = {t.config.d_model * 100 + t.config.n_layer for t in quick.trials}
    assert len(sizes) >= 3 and len(quick.spec.lr) >= 5 and len(quick.spec.batch_seqs) >= 2
    cpu = load_spec("cpu-default")
    shapes = {(t.config.n_layer, t.config.d_model) for t in plan(cpu).trials}
    assert len(shapes) >= 5 and cpu.extra_seeds and len(cpu.tokens) >= 2


def test_log_spaced_lr_grid_and_explicit_values():
    spec = parse_spec(BASE)
    assert spec.lr == (1e-3, 1e-2, 1e-1)
    spec = parse_spec(with_("lr", {"values": [0.03, 0.01]}))
    assert spec.lr == (0.01, 0.03)


@pytest.mark.parametrize(
    "path, value, named",
    [
        ("bogus", 1, "bogus"),
        ("lr.pionts", 3, "lr.pionts"),
        ("adaptive.max_extension", 3, "adaptive.max_extension"),
        ("trial.learning_rate", 0.1, "trial.learning_rate"),
        ("trial.lr", 0.1, "trial.lr"),
        ("trial.schedule", "linear", "schedule"),
        ("trial.seq_len", "64", "trial.seq_len"),
        ("lr.max", 1e-4, "lr.max"),
        ("lr.points", 1, "lr.points"),
        ("batch.seqs", [4, -8], "batch.seqs"),
        ("batch.seqs", [4, 4.5], "batch.seqs"),
        ("budget.tokens", [], "budget.tokens"),
        ("budget", {}, "[budget]"),
        ("sizes", None, "[sizes]"),
        ("sizes.shapes", [{"n_layer": 1, "d_model": 18, "n_head": 4, "d_ff": 8}], "sizes.shapes[0]"),
        ("device", "tpu", "device"),
        ("seeds", [0, 0], "seeds"),
        ("seeds", {"values": [0], "extra": [1]}, "seeds.extra_smallest"),
        ("seeds", {"values": [0], "extra_near_best": 3}, "seeds.extra"),
        ("adaptive.lr_min", 2.0, "adaptive.lr_min"),
        ("adaptive.extend", "yes", "adaptive.extend"),
        ("min_steps", 0, "min_steps"),
    ],
)
def test_bad_spec_names_the_key(path, value, named):
    with pytest.raises(SpecError) as err:
        parse_spec(with_(path, value))
    assert named in str(err.value)


def test_lr_values_and_range_are_exclusive():
    with pytest.raises(SpecError, match=r"\[lr\]"):
        parse_spec(with_("lr.values", [0.01, 0.02]))


def test_plan_refuses_too_few_steps_and_unknown_rungs():
    with pytest.raises(SpecError, match="min_steps"):
        plan(parse_spec(with_("min_steps", 100)))
    with pytest.raises(SpecError, match="sizes.rungs"):
        plan(parse_spec(with_("sizes.rungs", ["huge"])))


def test_plan_counts_budgets_seeds_and_flops():
    raw = with_("budget", {"tokens": [8192], "tokens_per_param": [2.0]})
    raw["seeds"] = {"values": [0], "extra": [1], "extra_smallest": 1}
    raw["sizes"]["n_params"] = [3e4]
    p = plan(parse_spec(raw))
    # smallest size: 2 budgets x 3 LR x 2 batch x 2 seeds; second size: 2 x 3 x 2 x 1
    assert len(p.trials) == 24 + 12
    assert len(p.cells) == 4
    big = [t for t in p.trials if t.config.d_model > 16]
    assert {t.config.tokens for t in big} == {8192, round(2.0 * 27792)}
    assert math.isclose(p.total_flops, sum(_flops(t.config) for t in p.trials))


def _flops(cfg):
    n = cfg.n_layer * (4 * cfg.d_model**2 + 3 * cfg.d_model * cfg.d_ff + 2 * cfg.d_model) + cfg.d_model
    return (6 * n + 6 * cfg.n_layer * cfg.seq_len * cfg.d_model) * cfg.steps * cfg.batch_tokens


def test_spec_hash_tracks_what_is_trained():
    a = parse_spec(BASE)
    assert parse_spec(with_("name", "other")).spec_hash == a.spec_hash
    assert parse_spec(with_("device", "cpu")).spec_hash == a.spec_hash
    assert parse_spec(with_("lr.max", 0.2)).spec_hash != a.spec_hash
    assert parse_spec(with_("trial.schedule", "wsd")).spec_hash != a.spec_hash
    reseeded = parse_spec(with_("seeds", {"values": [0], "extra": [1], "extra_near_best": 3}))
    assert reseeded.extra_seeds_near_best == 3 and reseeded.spec_hash != a.spec_hash


def test_spec_hash_is_stable_when_the_format_grows_optional_keys():
    """The hash a store was made under must not move when the spec format gains an optional key."""
    assert load_spec("quick").spec_hash == "ad9b854f1ea9f983"


def test_cli_spec_errors_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[sizes]\nrungs = ["xxs"]\n[budget]\ntokens = [1e5]\n'
                   '[lr]\nvalues = [0.01]\n[batch]\nseqs = [4]\ncolour = "red"\n')
    runner = CliRunner()
    for args in (["calibrate", "plan", str(bad), "--no-measure"], ["calibrate", "run", str(bad), "--out", str(tmp_path / "o")]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 2, res.output
        assert "batch.colour" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()
    res = runner.invoke(cli, ["calibrate", "plan", "no-such-preset"])
    assert res.exit_code == 2 and "quick" in res.output
    bad.write_text("[sizes\n")
    res = runner.invoke(cli, ["calibrate", "plan", str(bad)])
    assert res.exit_code == 2 and "TOML" in res.output


def test_cli_plan_prints_counts_and_estimate():
    res = CliRunner().invoke(cli, ["calibrate", "plan", "quick"])
    assert res.exit_code == 0, res.output
    assert "180 trials" in res.output and "FLOPs" in res.output and "estimated wall time on cpu" in res.output


def test_data_source_must_exist(tmp_path):
    with pytest.raises(SpecError, match=r"trial\.data.*/nonexistent/corpus\.txt.*does not exist"):
        parse_spec(with_("trial.data", "/nonexistent/corpus.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(SpecError, match=r"trial\.data.*empty file"):
        parse_spec(with_("trial.data", str(empty)))
    (tmp_path / "folder").mkdir()
    with pytest.raises(SpecError, match=r"trial\.data.*empty folder"):
        parse_spec(with_("trial.data", str(tmp_path / "folder")))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("some text")
    assert parse_spec(with_("trial.data", str(corpus))).trial["data"] == str(corpus)
    assert parse_spec(with_("trial.data", "kjv")).trial["data"] == "kjv"
    bad = tmp_path / "bad.toml"
    bad.write_text('[sizes]\nrungs = ["xxs"]\n[budget]\ntokens = [1e5]\n[lr]\nvalues = [0.01]\n[batch]\nseqs = [4]\n'
                   '[trial]\ndata = "/nonexistent/corpus.txt"\n')
    res = CliRunner().invoke(cli, ["calibrate", "plan", str(bad), "--no-measure"])
    assert res.exit_code == 2 and "trial.data" in res.output and "Traceback" not in res.output, res.output


def test_budget_against_batch_quotes_the_users_numbers():
    # seq_len 100000: the message names the spec's budget, batch and seq_len, not TrialConfig defaults
    with pytest.raises(SpecError) as err:
        parse_spec(with_("trial.seq_len", 100000))
    msg = str(err.value)
    assert "budget.tokens 8,192" in msg and "batch.seqs 8" in msg and "trial.seq_len 100000" in msg, msg
    assert "1000000" not in msg and "3200000" not in msg
    # budgets from tokens_per_param are only known at plan time: plan says the same
    raw = with_("budget", {"tokens_per_param": [0.1]})
    with pytest.raises(SpecError) as err:
        plan(parse_spec(raw))
    msg = str(err.value)
    assert "[budget]" in msg and "batch.seqs 4" in msg and "trial.seq_len 32" in msg and "min_steps 5" in msg, msg


# ---- checked before any work: vocabulary, ranges, head dims, encoding, memory -----------------------

def _gpt2_bin(tmp_path):
    """Token ids as GPT-2's tokenizer writes them (uint16, up to 50256), a few thousand of them."""
    ids = (np.arange(4000) * 7919) % 50257
    ids[0] = 50256
    path = tmp_path / "gpt2.bin"
    ids.astype(np.uint16).tofile(path)
    return path


def test_the_vocabulary_follows_the_data_and_n_stays_non_embedding(tmp_path):
    data = str(_gpt2_bin(tmp_path))
    raw = with_("trial.data", data)
    raw["sizes"]["n_params"] = [3e4]
    spec = parse_spec(raw)
    assert spec.trial["vocab_size"] == 50304  # GPT-2's 50,257 padded to a multiple of 64
    bytes_plan = plan(parse_spec(with_("sizes.n_params", [3e4])))
    bin_plan = plan(spec)
    assert len(bin_plan.trials) == len(bytes_plan.trials)
    for a, b in zip(bytes_plan.trials, bin_plan.trials):
        (n_a, total_a), (n_b, total_b) = (count_params(shape_from_config(t.config)) for t in (a, b))
        assert n_a == n_b and total_b - total_a == 2 * (50304 - 256) * a.config.d_model  # only the embeddings grow
        assert b.config.vocab_size == 50304 and a.config.trial_id != b.config.trial_id  # the key holds the vocab
    assert parse_spec(BASE).trial.get("vocab_size") is None  # byte-level data: the default, the hash unchanged
    assert parse_spec(with_("trial.vocab_size", 65536)).trial["vocab_size"] == 65536
    raw = with_("trial.data", data)
    raw["trial"]["vocab_size"] = 50000
    with pytest.raises(SpecError, match=r"trial\.vocab_size 50000.*50257"):
        parse_spec(raw)
    with pytest.raises(SpecError, match=r"trial\.vocab_size 100.*256"):
        parse_spec(with_("trial.vocab_size", 100))


def test_load_spec_takes_the_command_lines_data_and_vocabulary(tmp_path):
    data = str(_gpt2_bin(tmp_path))
    assert load_spec("quick", data=data).trial["vocab_size"] == 50304
    assert load_spec("quick", data=data, vocab_size=65536).trial["vocab_size"] == 65536
    with pytest.raises(SpecError, match="vocab_size 256"):
        load_spec("quick", data=data, vocab_size=256)
    assert load_spec("quick").spec_hash == load_spec("quick", data="kjv").spec_hash


@pytest.mark.parametrize("key, value", [
    ("beta2", 1.5), ("beta1", 1.0), ("beta1", -0.1), ("eval_tokens", 0), ("weight_decay", -1.0),
    ("grad_clip", -1.0), ("warmup_frac", 5.0), ("final_lr_frac", 2.0), ("decay_frac", -0.5), ("eps", 0.0),
    ("init_std", 0.0), ("vocab_size", 0), ("weight_decay", math.inf), ("beta2", math.nan),
])
def test_trial_values_out_of_range_are_refused_naming_the_key(key, value):
    with pytest.raises(SpecError, match=rf"trial\.{key} must be in"):
        parse_spec(with_(f"trial.{key}", value))


def test_trial_values_at_the_edges_of_their_ranges_are_accepted():
    for key, value in (("grad_clip", 0.0), ("weight_decay", 0.0), ("warmup_frac", 0.0), ("warmup_frac", 1.0),
                       ("beta1", 0.0), ("final_lr_frac", 1.0), ("eval_tokens", 1)):
        assert parse_spec(with_(f"trial.{key}", value)).trial[key] == value


def test_range_errors_stop_the_cli_before_anything_is_created(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[sizes]\nrungs = ["xxs"]\n[budget]\ntokens = [1e5]\n[lr]\nvalues = [0.01]\n[batch]\nseqs = [4]\n'
                    '[trial]\nbeta2 = 1.5\n')
    for args in (["calibrate", "run", str(spec), "--out", str(tmp_path / "o")],
                 ["recalibrate", str(spec), "--out", str(tmp_path / "o")]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2 and "trial.beta2" in res.output and "Traceback" not in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_odd_head_dim_and_non_utf8_spec_are_one_line_errors(tmp_path):
    with pytest.raises(SpecError, match=r"sizes\.shapes\[0\].*head dim 9"):
        parse_spec(with_("sizes.shapes", [{"n_layer": 1, "d_model": 18, "n_head": 2, "d_ff": 32}]))
    odd = tmp_path / "odd.toml"
    odd.write_text('[sizes]\nshapes = [{n_layer = 1, d_model = 18, n_head = 2, d_ff = 32}]\n[budget]\ntokens = [1e5]\n'
                   '[lr]\nvalues = [0.01]\n[batch]\nseqs = [4]\n')
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('description = "sweep für Größen"\n'.encode("latin-1") + odd.read_bytes())
    for path in (odd, latin1):
        res = CliRunner().invoke(cli, ["calibrate", "plan", str(path), "--no-measure"])
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert res.exception is None or isinstance(res.exception, SystemExit)
    with pytest.raises(SpecError, match="UTF-8"):
        load_spec(latin1)


def test_a_size_beyond_this_machines_memory_is_refused_before_it_is_built(tmp_path):
    spec = tmp_path / "huge.toml"
    spec.write_text('[sizes]\nn_params = [1e12]\n[budget]\ntokens = [1e6]\n[lr]\nvalues = [0.01]\n'
                    '[batch]\nseqs = [4]\n[trial]\nseq_len = 32\n')
    started = time.perf_counter()
    for args in (["calibrate", "plan", str(spec)], ["calibrate", "run", str(spec), "--out", str(tmp_path / "o")]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 2 and "TiB" in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert time.perf_counter() - started < 30 and not (tmp_path / "o").exists()


def test_a_gpu_spec_planned_without_a_gpu_is_bounded_by_the_largest_gpu_not_this_machine(tmp_path, monkeypatch):
    """A 3B proxy needs ~50 GB: more than this machine (a Ray head node, a laptop) but within an H200; a
    cuda spec plans here (its trials check their own device), a CPU spec is refused, 1e12 is refused."""
    import calibration.proxy.memory as memory
    from calibration.sweep.plan import plan
    from calibration.sweep.spec import SpecError, load_spec

    monkeypatch.setattr(memory, "_cuda_count", lambda: 0)
    monkeypatch.setattr(memory, "host_memory_bytes", lambda: 24 * 2**30)

    def spec(n, device):
        path = tmp_path / f"{device}-{n:g}.toml"
        path.write_text(f'device = "{device}"\n[sizes]\nn_params = [{n:g}]\n[budget]\ntokens = [1e9]\n'
                        '[lr]\nvalues = [0.01]\n[batch]\nseqs = [4]\n[trial]\nseq_len = 32\n')
        return load_spec(str(path))

    assert len(plan(spec(3e9, "cuda")).trials) == 1
    for n, device in ((3e9, "cpu"), (1e12, "cuda")):
        with pytest.raises(SpecError, match="memory|GiB|TiB"):
            plan(spec(n, device))
