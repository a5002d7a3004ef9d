"""`--config FILE`: exact parameter counts read from a model's own config (advisor/model_config.py), and
their use in recommend, plan and compare.

The fixtures in tests/fixtures/configs/ are written from the published config.json files (no download).
Reference counts and where they come from (each checked before it was asserted):

- Llama-2-7B 6,738,415,616: the parameter count of the released checkpoint (e.g. GGUF
  general.parameter_count, PEFT's "all params" for meta-llama/Llama-2-7b-hf).
- Mistral-7B-v0.1 7,241,732,096: GGUF general.parameter_count of mistral-7b.
- Qwen2-7B 7,615,616,512: the safetensors total of Qwen2.5-7B, whose shape is identical (d 3584, 28 layers,
  28/4 heads, d_ff 18944, vocab 152064, untied); Qwen reports "7.6B" (6.5B non-embedding).
- Mixtral-8x7B 46,702,792,704 total (keras-hub preset, training logs); "12.9B parameters per token"
  (Mistral AI's announcement) counts the embeddings: ours 12.88B.
- Qwen2-57B-A14B 57,408,658,944: the Hub's safetensors total; "A14B" = 14B active (ours 14.25B).
- DeepSeek-V3 671,026,419,200: the main model's tensors in the released checkpoint (several independent
  audits of its headers); the Hub's "685B" adds the MTP module (README_WEIGHTS.md: 671B main + MTP;
  "14B" with its copies of the embedding and head). Active: 37B in the paper (arXiv 2412.19437);
  37,552,297,472 with embedding and head = 14,563,317,248 always active + 22,988,980,224 routed (a
  published R1 preset of the same architecture); README_WEIGHTS.md's "36.7B" is not reproduced by any
  convention we found (without the input embedding it is 36.63B).
- GPT-2 124M 124,439,808 (HF GPT2LMHeadModel, tied head); nanoGPT prints 123.65M because it leaves out the
  position embeddings (get_num_params(non_embedding=True)).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import advisor.recipe as recipe
from advisor import shape as shapes
from advisor.cli import cli
from advisor.model_config import ConfigError, ConfigShape, read_model_config
from advisor.model import ModelError
from advisor.errors import AdvisorError
from advisor.recipe import recommend
from advisor.target import target_shape
from advisor.units import UnitError
from advisor_fixtures import write_model

CONFIGS = Path(__file__).parent / "fixtures" / "configs"
LLAMA = str(CONFIGS / "llama-2-7b.json")

# file, family, total, N (non-embedding), active N, vocab, context, n_layer, d_model
EXPECTED = [
    ("llama-2-7b.json", "llama", 6_738_415_616, 6_738_415_616 - 2 * 32000 * 4096, None, 32000, 4096, 32, 4096),
    ("mistral-7b-v0.1.json", "mistral", 7_241_732_096, 7_241_732_096 - 2 * 32000 * 4096, None, 32000, 32768, 32,
     4096),
    ("qwen2-7b.json", "qwen2", 7_615_616_512, 7_615_616_512 - 2 * 152064 * 3584, None, 152064, 131072, 28, 3584),
    ("mixtral-8x7b-v0.1.json", "mixtral", 46_702_792_704, 46_702_792_704 - 2 * 32000 * 4096, 12_617_781_248, 32000,
     32768, 32, 4096),
    ("qwen2-57b-a14b.json", "qwen2_moe", 57_408_658_944, 57_408_658_944 - 2 * 151936 * 3584, 13_160_193_536,
     151936, 131072, 28, 3584),
    ("deepseek-v3.json", "deepseek_v3", 671_026_419_200, 671_026_419_200 - 2 * 129280 * 7168, 35_698_939_392,
     129280, 163840, 61, 7168),
    ("nanogpt-gpt2-124m.json", "nanogpt", 124_439_808, 124_439_808 - 50257 * 768 - 1024 * 768, None, 50257, 1024,
     12, 768),
]


@pytest.fixture(autouse=True)
def no_default_model(tmp_path, monkeypatch):
    """Tests never depend on which default model the catalog names."""
    monkeypatch.setattr(recipe, "default_model_path", lambda: tmp_path / "absent" / "model.json")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return str(write_model(tmp_path_factory.mktemp("model") / "model.json"))


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def write(tmp_path, doc, name="config.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


# ---------------------------------------------------------------------------------------- counts


@pytest.mark.parametrize("name,family,total,n,active,vocab,context,n_layer,d_model", EXPECTED,
                         ids=[row[0] for row in EXPECTED])
def test_counts_match_the_published_checkpoints(name, family, total, n, active, vocab, context, n_layer, d_model):
    cfg = read_model_config(CONFIGS / name)
    assert cfg.family == family
    assert cfg.n_params_total == total
    assert cfg.n_params == n
    assert cfg.n_params_active == (n if active is None else active)
    assert cfg.is_moe == (active is not None)
    assert (cfg.vocab_size, cfg.seq_len, cfg.n_layer, cfg.d_model) == (vocab, context, n_layer, d_model)
    assert cfg.n_params_total == cfg.n_params + cfg.n_params_embedding


def test_published_active_figures_count_the_embeddings():
    mixtral = read_model_config(CONFIGS / "mixtral-8x7b-v0.1.json")
    assert round(mixtral.n_params_total_active / 1e9, 1) == 12.9  # "uses 12.9B parameters per token"
    qwen_moe = read_model_config(CONFIGS / "qwen2-57b-a14b.json")
    assert 14.0e9 <= qwen_moe.n_params_total_active < 14.5e9  # "A14B"
    deepseek = read_model_config(CONFIGS / "deepseek-v3.json")
    assert deepseek.n_params_total_active == 14_563_317_248 + 22_988_980_224  # ≈ 37B (arXiv 2412.19437)
    assert round(deepseek.n_params_total / 1e9) == 671


def test_nanogpt_reports_without_position_embeddings():
    cfg = read_model_config(CONFIGS / "nanogpt-gpt2-124m.json")
    assert cfg.tied_embeddings
    assert cfg.n_params_total - cfg.seq_len * cfg.d_model == 123_653_376  # nanoGPT: "123.65M"
    assert any("position embeddings" in note for note in cfg.notes)


def test_fields_read_and_notes_say_what_was_used():
    cfg = read_model_config(CONFIGS / "deepseek-v3.json")
    for key in ("hidden_size", "num_hidden_layers", "vocab_size", "q_lora_rank", "kv_lora_rank", "qk_rope_head_dim",
                "n_routed_experts", "num_experts_per_tok", "first_k_dense_replace", "moe_intermediate_size",
                "rope_scaling"):
        assert key in cfg.fields_read, key
    assert "quantization_config" not in cfg.fields_read  # present in the file, not used
    assert cfg.original_seq_len == 4096 and cfg.pretraining_seq_len == 4096
    assert cfg.n_moe_layers == 58 and cfg.n_experts == 256 and cfg.n_experts_active == 8
    mtp = [note for note in cfg.notes if "multi-token prediction" in note]
    assert mtp and "NOT counted" in mtp[0] and "11.6B" in mtp[0]
    llama = read_model_config(LLAMA)
    assert set(llama.fields_read) == {"hidden_size", "num_hidden_layers", "vocab_size", "max_position_embeddings",
                                      "num_attention_heads", "num_key_value_heads", "intermediate_size",
                                      "tie_word_embeddings"}


def test_tied_llama_counts_the_embedding_once(tmp_path):
    doc = json.loads((CONFIGS / "llama-2-7b.json").read_text())
    tied = read_model_config(write(tmp_path, {**doc, "tie_word_embeddings": True}))
    untied = read_model_config(LLAMA)
    assert tied.n_params == untied.n_params
    assert tied.n_params_total == untied.n_params_total - 32000 * 4096


def test_gqa_head_dim_and_biases(tmp_path):
    base = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "intermediate_size": 160, "vocab_size": 100, "max_position_embeddings": 128}
    plain = read_model_config(write(tmp_path, base, "plain.json"))
    # per layer: q 64·64 + k, v 2·64·32 + o 64·64 + MLP 3·64·160 + 2 norms 2·64; + final norm
    assert plain.n_params == 2 * (64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 160 + 2 * 64) + 64
    wide = read_model_config(write(tmp_path, {**base, "head_dim": 32}, "wide.json"))  # 4 heads of 32: q is 128 wide
    assert wide.n_params == 2 * (64 * 128 + 2 * 64 * 64 + 128 * 64 + 3 * 64 * 160 + 2 * 64) + 64
    biased = read_model_config(write(tmp_path, {**base, "attention_bias": True, "mlp_bias": True}, "bias.json"))
    assert biased.n_params == plain.n_params + 2 * ((64 + 2 * 32 + 64) + (2 * 160 + 64))
    qwen = read_model_config(write(tmp_path, {**base, "model_type": "qwen2"}, "qwen.json"))
    assert qwen.n_params == plain.n_params + 2 * (64 + 2 * 32)  # q, k, v biases only


def test_qwen2_moe_dense_layers(tmp_path):
    doc = json.loads((CONFIGS / "qwen2-57b-a14b.json").read_text())
    every = read_model_config(CONFIGS / "qwen2-57b-a14b.json")
    alternate = read_model_config(write(tmp_path, {**doc, "decoder_sparse_step": 2}))
    assert alternate.n_moe_layers == 14
    d, dense_mlp = 3584, 3 * 3584 * 18944
    sparse = 3584 * 64 + 64 * 3 * d * 2560 + 3 * d * 20480 + d  # router, experts, shared expert and its gate
    assert every.n_params - alternate.n_params == 14 * (sparse - dense_mlp)
    listed = read_model_config(write(tmp_path, {**doc, "mlp_only_layers": [0, 27]}, "listed.json"))
    assert listed.n_moe_layers == 26


def test_nanogpt_python_config_and_checkpoint_arguments(tmp_path):
    script = textwrap.dedent("""\
        # a nanoGPT config/*.py: plain assignments, some not literals
        out_dir = 'out-gpt2'
        n_layer = 12
        n_head = 12
        n_embd = 768
        block_size = 1024
        vocab_size = 50257
        bias = True
        gradient_accumulation_steps = 5 * 8
        """)
    from_py = read_model_config(write(tmp_path, script, "train_gpt2.py"))
    assert from_py.n_params_total == 124_439_808 and from_py.family == "nanogpt"
    args = {"model_args": json.loads((CONFIGS / "nanogpt-gpt2-124m.json").read_text()), "iter_num": 5000}
    assert read_model_config(write(tmp_path, args, "ckpt.json")).n_params_total == 124_439_808
    no_bias = read_model_config(write(tmp_path, {**args["model_args"], "bias": False}, "nobias.json"))
    assert no_bias.n_params == 85_056_000 - 12 * (2 * 768 + 3 * 768 + 768 + 4 * 768 + 768) - 768
    with pytest.raises(ConfigError, match="missing key 'vocab_size'"):
        read_model_config(write(tmp_path, script.replace("vocab_size = 50257\n", ""), "novocab.py"))


@pytest.mark.parametrize("doc,fragment", [
    ({"model_type": "llama", "hidden_size": 4096}, "missing key 'num_hidden_layers'"),
    ({"model_type": "falcon", "hidden_size": 4096}, "model_type 'falcon' is not one this tool can count"),
    ({"hidden_size": 4096}, "missing key 'model_type'"),
    ([1, 2], "expected a JSON object"),
    ("{not json", "not valid JSON"),
    ({"model_type": "llama", "hidden_size": "4096"}, "hidden_size must be a whole number"),
    ({"model_type": "llama", "hidden_size": -1}, "hidden_size must be between 1"),
    ({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
      "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 64, "num_local_experts": 2,
      "num_experts_per_tok": 4}, "num_experts_per_tok (4) is more than num_local_experts (2)"),
    ({"model_type": "llama", "hidden_size": 100, "num_hidden_layers": 2, "num_attention_heads": 3,
      "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 64}, "not a multiple"),
])
def test_bad_configs_are_one_line_errors_naming_file_and_key(tmp_path, doc, fragment):
    path = write(tmp_path, doc)
    with pytest.raises(ConfigError, match="^" + str(path).replace(".", r"\.")) as info:
        read_model_config(path)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, UnitError)  # an input error: exit 2 in the CLI
    assert_one_line_error(run("recommend", "--config", path, "--tokens", "2T"), path, fragment)


def test_missing_file_is_one_line(tmp_path):
    assert_one_line_error(run("recommend", "--config", tmp_path / "nope.json"), "no such file")


# ---------------------------------------------------------------------------------------- recommend


def test_target_shape_from_a_config():
    shape = target_shape(config=LLAMA)
    assert isinstance(shape, ConfigShape) and isinstance(shape, shapes.Shape)
    assert (shape.n_params_total, shape.n_params, shape.d_model, shape.n_layer) == (6_738_415_616, 6_476_271_616,
                                                                                   4096, 32)
    assert shape.config.family == "llama" and shape.n_params_active == shape.n_params
    assert target_shape(vocab_size=32000, config=shape.config).n_params == shape.n_params  # same vocab is fine
    for kwargs, fragment in ((dict(params="7B"), "drop params="),
                             (dict(n_params_nonembedding="6B"), "drop n_params_nonembedding="),
                             (dict(vocab_size=50000), "contradicts vocab_size 32000")):
        with pytest.raises(AdvisorError, match=fragment):
            target_shape(config=LLAMA, **kwargs)


def test_cli_recommend_with_a_config(model_file):
    result = run("recommend", "--config", LLAMA, "--tokens", "2T", "--model", model_file, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_params_total"] == 6_738_415_616
    assert data["n_params"] == data["n_params_active"] == 6_476_271_616
    assert (data["vocab_size"], data["seq_len"], data["d_model"], data["n_layer"]) == (32000, 4096, 4096, 32)
    assert data["flops"] == 6 * 6_476_271_616 * 2e12
    source = data["shape_source"]
    assert source["kind"] == "config" and source["family"] == "llama" and source["path"] == LLAMA
    assert "intermediate_size" in source["fields_read"] and "context length 4096" in source["seq_len_source"]
    assert "fields read: hidden_size" in data["rules"]["shape"]
    standard = json.loads(run("recommend", "--params", "7B", "--tokens", "2T", "--model", model_file,
                              "--json").stdout)
    assert standard["shape_source"]["kind"] == "standard"
    assert standard["n_params_active"] == standard["n_params"]


def test_the_config_changes_the_answer_through_n(model_file):
    by_config = recommend(config=LLAMA, tokens="2T", model=model_file)
    by_n = recommend(n_params_nonembedding=6_476_271_616, tokens="2T", model=model_file)
    assert by_config.lr == pytest.approx(by_n.lr) and by_config.batch_tokens == pytest.approx(by_n.batch_tokens)
    # the standard shape (Llama-style, learned positions ignored) is 47% off for GPT-2's own count
    gpt2 = CONFIGS / "nanogpt-gpt2-124m.json"
    by_params = recommend(params=124_439_808, vocab_size=50257, tokens="10B", model=model_file)
    exact = recommend(config=gpt2, tokens="10B", model=model_file)
    assert exact.n_params == 85_056_000 and by_params.n_params < 0.6 * exact.n_params
    assert exact.lr < by_params.lr  # a larger N, a smaller optimal LR


def test_seq_len_rule(model_file):
    def seq(name, **kwargs):  # an MoE config goes to the MoE model (no published law serves it)
        law = None if read_model_config(CONFIGS / name).is_moe else "steplaw"
        return recommend(config=CONFIGS / name, tokens="1T", law=law, **kwargs)

    assert seq("nanogpt-gpt2-124m.json").seq_len == 1024  # the config's context, shorter than 4096
    qwen = seq("qwen2-7b.json")  # 131072 is the model's maximum, not its pretraining length
    assert qwen.seq_len == 4096 and "131072" in qwen.shape_source["seq_len_source"]
    deepseek = seq("deepseek-v3.json")
    assert deepseek.seq_len == 4096 and "original_max_position_embeddings" in deepseek.shape_source["seq_len_source"]
    assert seq("qwen2-7b.json", seq_len=32768).seq_len == 32768  # given: used
    beyond = seq("llama-2-7b.json", seq_len=8192)
    assert beyond.seq_len == 8192 and "seq_len_beyond_config" in beyond.warning_codes
    with pytest.raises(AdvisorError, match="learned positions"):
        seq("nanogpt-gpt2-124m.json", seq_len=2048)
    # the CLI's default --seq-len 4096 does not count as given
    data = json.loads(run("recommend", "--config", CONFIGS / "nanogpt-gpt2-124m.json", "--tokens", "1B",
                          "--hp-law", "steplaw", "--json").stdout)
    assert data["seq_len"] == 1024 and data["vocab_size"] == 50257


def test_a_config_with_experts_is_served_as_an_moe(model_file):
    rec = recommend(config=CONFIGS / "mixtral-8x7b-v0.1.json", tokens="2T")
    assert rec.n_params == 46_440_648_704 and rec.n_params_active == 12_617_781_248
    assert rec.source.name == "steplaw-moe" and rec.n_params_laws == pytest.approx(rec.n_params_active)
    assert rec.flops == pytest.approx(6 * 12_617_781_248 * 2e12)
    assert rec.shape_source["n_experts"] == 8 and rec.shape_source["n_experts_active"] == 2
    assert rec.shape_source["moe"]["total_shift"]["factor"] > 1  # beyond the sweep's one total: said
    # the MoE rules: a dense model, a published law and a missing token budget are refused
    with pytest.raises(ModelError, match="cannot say how an MoE"):
        recommend(config=CONFIGS / "mixtral-8x7b-v0.1.json", tokens="2T", model=model_file)
    with pytest.raises(AdvisorError, match="fitted on dense models"):
        recommend(config=CONFIGS / "mixtral-8x7b-v0.1.json", tokens="2T", law="steplaw")
    with pytest.raises(AdvisorError, match="no compute-optimal token budget"):
        recommend(config=CONFIGS / "mixtral-8x7b-v0.1.json")
    dense = recommend(config=LLAMA, tokens="2T", model=model_file)
    assert dense.n_params_active == dense.n_params and dense.n_params_laws == pytest.approx(dense.n_params)


@pytest.mark.parametrize("command", ["recommend", "compare", "plan"])
def test_config_with_a_size_is_a_one_line_error(command, model_file):
    for extra, fragment in ((("--params", "7B"), "drop --params"),
                            (("--n-params-nonembedding", "6B"), "drop --n-params-nonembedding"),
                            (("--vocab-size", "50000"), "contradicts vocab_size")):
        result = run(command, "--config", LLAMA, "--tokens", "2T", "--model", model_file, *extra)
        assert_one_line_error(result, fragment)


def test_compare_and_plan_take_a_config(model_file):
    table = json.loads(run("compare", "--config", LLAMA, "--tokens", "2T", "--model", model_file, "--json").stdout)
    assert table["n_params_total"] == 6_738_415_616 and table["n_params"] == 6_476_271_616
    result = run("plan", "--config", LLAMA, "--tokens", "2T", "--gpus", "64", "--model", model_file, "--json")
    assert result.exit_code == 0, result.output
    p = json.loads(result.stdout)
    assert p["n_params_total"] == 6_738_415_616 and p["mode"] == "size"
    assert p["memory"]["weights_gib"] == pytest.approx(2 * 6_738_415_616 / 64 / 2**30)  # the exact total
    assert p["recommendation"]["shape_source"]["kind"] == "config"
    assert_one_line_error(run("plan", "--config", LLAMA, "--flops", "1e23", "--model", model_file), "not both")
    assert_one_line_error(run("recommend", "--tokens", "2T"), "--config FILE")


def test_model_config_import_is_light():
    script = textwrap.dedent("""
        import sys
        import advisor.model_config
        print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in
                              {"numpy", "torch", "pandas", "click", "calibration"} or m == "advisor.recipe")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
