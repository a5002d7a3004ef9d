"""Read the user's own model config and count its parameters exactly: `read_model_config(path)`.

Takes a Hugging Face `config.json` (model_type llama, mistral, qwen2, mixtral, qwen2_moe, deepseek_v3,
deepseek_v2, gpt2) or a nanoGPT-style config (a JSON object, or a nanoGPT `config/*.py` file of plain
assignments, with n_layer, n_head, n_embd, block_size, vocab_size and optionally bias), and counts every
weight the architecture creates, as Hugging Face's modelling code (or nanoGPT's model.py) builds it:

- N (`n_params`, the project's non-embedding count, Kaplan / Step Law convention): everything except the
  input embedding, learned position embeddings and the output head (unembedding). Norm gains and biases
  are in N. The standard shape (advisor/shape.py) ignores the norms; the config does not need to.
- `n_params_total`: N + input embedding (+ position embeddings) + the output head unless it is tied.
- `n_params_active` (MoE): the non-embedding parameters one token passes through: attention, norms, the
  router, the shared experts and `num_experts_per_tok` routed experts in each MoE layer, dense layers in
  full. Equal to N for a dense model. `n_params_total_active` adds the embedding and head, as published
  "active" figures usually do.

Per family (d = hidden_size, L = num_hidden_layers, V = vocab_size, h = head_dim, H = num_attention_heads,
K = num_key_value_heads, I = intermediate_size):

- llama, mistral: attention d·H·h (q) + 2·d·K·h (k, v) + H·h·d (o), plus biases on all four when
  `attention_bias`; SwiGLU MLP 3·d·I (+ 2I + d biases when `mlp_bias`); two RMSNorm gains per layer and a
  final one. h = `head_dim` if given, else d/H; K defaults to H.
- qwen2: as llama, with biases on q, k and v (Qwen2's attention always has them) and none on o.
- mixtral: the MLP is `num_local_experts` SwiGLU experts of size I and a router d·E, top
  `num_experts_per_tok` of them active.
- qwen2_moe: a layer is sparse unless listed in `mlp_only_layers` or (layer+1) % `decoder_sparse_step` ≠ 0
  (then a dense SwiGLU of size I); a sparse layer has a router d·E, E = `num_experts` experts of size
  `moe_intermediate_size`, a shared expert of size `shared_expert_intermediate_size` with its d·1 gate.
- deepseek_v3 (and deepseek_v2): multi-head latent attention: q_a (d·q_lora_rank) + its RMSNorm + q_b
  (q_lora_rank·H·(qk_nope_head_dim+qk_rope_head_dim)) (or one q projection when q_lora_rank is null),
  kv_a (d·(kv_lora_rank+qk_rope_head_dim)) + its RMSNorm + kv_b (kv_lora_rank·H·(qk_nope_head_dim+v_head_dim)),
  o (H·v_head_dim·d). Layers from `first_k_dense_replace` on (every `moe_layer_freq`-th) are MoE: router
  E·d (+ E correction biases with topk_method noaux_tc), E = n_routed_experts experts of size
  `moe_intermediate_size`, `n_shared_experts` shared ones; the first layers are dense of size I. The
  multi-token-prediction module (`num_nextn_predict_layers`) is not part of the model that is trained and
  served as "671B": it is left out and the notes say how large it is.
- nanogpt, gpt2: GPT-2 blocks: LayerNorm (gain and bias), fused qkv d·3d, projection d·d, MLP d·4d and 4d·d
  (GELU), biases on every Linear and LayerNorm when `bias` (GPT-2 always); learned position embeddings
  block_size·d count as embedding; the head is tied to the input embedding.

Pure standard library (json, and ast only for a .py file): `advisor recommend` must stay cheap to start.
Errors are one line naming the file and the key (`ConfigError`, an input error: exit 2 in the CLI).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from advisor import shape as shapes
from advisor.bounded_read import TooLarge, read_text
from advisor.json_text import parse_object
from advisor.units import UnitError, format_count

FAMILIES = ("llama", "mistral", "qwen2", "mixtral", "qwen2_moe", "deepseek_v3", "deepseek_v2", "gpt2", "nanogpt")
# Hugging Face `architectures` entries that name a family when `model_type` is missing.
_ARCHITECTURES = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2",
    "MixtralForCausalLM": "mixtral", "Qwen2MoeForCausalLM": "qwen2_moe", "DeepseekV3ForCausalLM": "deepseek_v3",
    "DeepseekV2ForCausalLM": "deepseek_v2", "GPT2LMHeadModel": "gpt2",
}
_NANOGPT_KEYS = ("n_layer", "n_head", "n_embd")
_MAX_COUNT = 10**9  # no dimension of a real model is larger; beyond it the file is wrong, not the model huge
_MAX_FILE_BYTES = 10 * 2**20  # a config is a few KB; a 10 MB file is something else (weights, a dataset)


class ConfigError(UnitError):
    """A model config that cannot be read or counted (one line that names the file and the key)."""


@dataclass(frozen=True)
class ModelConfig:
    """Exact counts and the shape read from a model config (module docstring for the rules)."""

    path: str
    family: str
    n_params_total: int
    n_params: int  # non-embedding N
    n_params_active: int  # non-embedding, per token (= n_params for a dense model)
    n_params_embedding: int  # input embedding + learned position embeddings + the output head if untied
    vocab_size: int
    seq_len: int  # context length: max_position_embeddings / n_positions / block_size
    n_layer: int
    d_model: int
    tied_embeddings: bool
    fields_read: tuple[str, ...]
    notes: tuple[str, ...]
    # the context the model was pretrained at, when the config says it was extended (rope_scaling)
    original_seq_len: int | None = None
    n_experts: int | None = None  # MoE: routed experts per MoE layer
    n_experts_active: int | None = None  # MoE: routed experts per token
    n_moe_layers: int | None = None

    @property
    def is_moe(self) -> bool:
        return self.n_experts is not None

    @property
    def n_params_total_active(self) -> int:
        """Active per token including the embedding and head: the way published "active" figures count."""
        return self.n_params_active + self.n_params_embedding

    @property
    def pretraining_seq_len(self) -> int:
        """The context length before any extension (rope_scaling's original length), else `seq_len`."""
        return self.original_seq_len or self.seq_len

    def shape(self) -> ConfigShape:
        """As the advisor's `Shape` (d_model, n_layer, N, N_total, V), carrying this config. A config with
        experts is also a `MoeShape`, so that it goes the way `--active-params` goes (the MoE model, its
        rules and refusals): one model, one answer however it is described."""
        kind = ConfigMoeShape if self.is_moe else ConfigShape
        return kind(float(self.d_model), float(self.n_layer), float(self.n_params), float(self.n_params_total),
                    self.vocab_size, n_params_active=float(self.n_params_active), config=self)

    def summary(self) -> str:
        """One line: family, file, shape and counts (for the recommendation's Target line)."""
        moe = (f", {self.n_experts_active} of {self.n_experts} experts per token in {self.n_moe_layers} MoE "
               f"layers: {format_count(self.n_params_active)} active non-embedding" if self.is_moe else "")
        return (f"{self.family} config {self.path}: {self.n_layer} layers, d_model {self.d_model}, vocab "
                f"{self.vocab_size}, context {self.seq_len}, {'tied' if self.tied_embeddings else 'untied'} "
                f"embeddings; N = {self.n_params:,} non-embedding, {self.n_params_total:,} total{moe}")

    def counting_rule(self) -> str:
        """How N was counted from this config, in words (the recommendation's shape rule)."""
        positions = ", the position embeddings" if self.family in ("nanogpt", "gpt2") else ""
        head = "its tied output head" if self.tied_embeddings else "the output head"
        return (f"read from {self.path} ({self.family}): every weight of the architecture counted exactly, N "
                f"without the input embedding{positions} and {head}; fields read: " + ", ".join(self.fields_read))

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(fields_read=list(self.fields_read), notes=list(self.notes), is_moe=self.is_moe,
                   n_params_total_active=self.n_params_total_active)
        return out


@dataclass(frozen=True)
class ConfigShape(shapes.Shape):
    """A `Shape` read from a config: exact counts, integer d_model and n_layer, and the config itself."""

    n_params_active: float = 0.0
    config: ModelConfig | None = None


@dataclass(frozen=True)
class ConfigMoeShape(ConfigShape, shapes.MoeShape):
    """A mixture of experts read from a config: exact counts, served like `--active-params`."""


def read_model_config(path: str | Path) -> ModelConfig:
    """Read and count a Hugging Face config.json or a nanoGPT-style config (module docstring)."""
    doc, where = _load(Path(path))
    if isinstance(doc.get("model_args"), dict):  # a nanoGPT checkpoint's arguments, dumped as JSON
        doc = doc["model_args"]
    family = _family(doc, where)
    reader = _Reader(doc, where, family)
    count = _COUNTERS[family](reader)
    return ModelConfig(path=str(path), family=family, fields_read=tuple(reader.read), notes=tuple(reader.notes),
                       **count)


# ---------------------------------------------------------------------------------------- reading


def _load(path: Path) -> tuple[dict, str]:
    where = str(path)
    try:
        text = read_text(path, _MAX_FILE_BYTES)  # bounded while reading: /dev/zero's stat says 0 bytes
    except TooLarge:
        raise ConfigError(f"{where}: more than {_MAX_FILE_BYTES / 2**20:.0f} MB is not a model config "
                          "(a config.json is a few KB)") from None
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file (--config takes a config.json or a nanoGPT config)") from None
    except IsADirectoryError:
        raise ConfigError(f"{where}: is a directory; pass its config.json") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    if path.suffix == ".py":
        return _python_assignments(text, where), where
    try:
        return parse_object(text), where
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _python_assignments(text: str, where: str) -> dict:
    """A nanoGPT config/*.py file: its top-level `name = literal` assignments, never executed."""
    import ast

    try:
        tree = ast.parse(text, filename=where)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # nested too deeply: not a config
        raise ConfigError(f"{where}: not a Python file of assignments ({exc.__class__.__name__}: {exc})") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                try:
                    value = _arithmetic(node.value)  # `n_embd = 768 * 1`, `batch_size = 5 * 8`: plain arithmetic
                except RecursionError:
                    value = None
                if value is not None:
                    out[node.targets[0].id] = value
    return out


_ARITHMETIC = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mult": lambda a, b: a * b,
               "FloorDiv": lambda a, b: a // b, "Div": lambda a, b: a / b}


def _arithmetic(node):
    """The value of an expression of number literals with + - * / // (and unary minus), or None: never
    executed, never anything else (names, calls, powers)."""
    import ast

    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _arithmetic(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp) and type(node.op).__name__ in _ARITHMETIC:
        left, right = _arithmetic(node.left), _arithmetic(node.right)
        if left is None or right is None or (right == 0 and type(node.op).__name__ in ("Div", "FloorDiv")):
            return None
        value = _ARITHMETIC[type(node.op).__name__](left, right)
        return value if abs(value) < 1e30 else None
    return None


def _family(doc: dict, where: str) -> str:
    model_type = doc.get("model_type")
    if model_type is not None:
        key = str(model_type).lower()
        if key not in FAMILIES or key == "nanogpt":
            raise ConfigError(f"{where}: model_type {model_type!r} is not one this tool can count; supported: "
                              f"{', '.join(f for f in FAMILIES if f != 'nanogpt')}, or a nanoGPT config")
        return key
    architectures = doc.get("architectures")
    if isinstance(architectures, list):
        for name in architectures:
            if name in _ARCHITECTURES:
                return _ARCHITECTURES[name]
    if all(k in doc for k in _NANOGPT_KEYS):
        return "nanogpt"
    raise ConfigError(f"{where}: missing key 'model_type' (a Hugging Face config.json), and no nanoGPT keys "
                      f"({', '.join(_NANOGPT_KEYS)}) either")


_REQUIRED = object()


class _Reader:
    """Reads keys of one config, records which it used, and refuses bad values in one line."""

    def __init__(self, doc: dict, where: str, family: str) -> None:
        self.doc, self.where, self.family = doc, where, family
        self.read: list[str] = []
        self.notes: list[str] = []

    def _raw(self, key: str, default, why: str | None):
        value = self.doc.get(key)
        if value is None:
            if default is _REQUIRED:
                raise ConfigError(f"{self.where}: missing key {key!r} (needed to count a {self.family} model)")
            if why:
                self.notes.append(f"{key} absent: {why}")
            return default
        if key not in self.read:
            self.read.append(key)
        return value

    def int(self, key: str, default=_REQUIRED, *, minimum: int = 1, why: str | None = None):
        value = self._raw(key, default, why)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.where}: {key} must be a whole number, got {value!r}")
        if not minimum <= value <= _MAX_COUNT:
            raise ConfigError(f"{self.where}: {key} must be between {minimum} and {_MAX_COUNT:.0e}, got {value}")
        return value

    def flag(self, key: str, default: bool, why: str | None = None) -> bool:
        value = self._raw(key, default, why)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}: {key} must be true or false, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self._raw(key, default, None)
        return value if value is default else str(value)

    def int_list(self, key: str) -> list[int]:
        value = self._raw(key, [], None)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{self.where}: {key} must be a list of layer numbers, got {value!r}")
        return value

    def context(self, *keys: str) -> int:
        for key in keys:
            if self.doc.get(key) is not None:
                return self.int(key)
        raise ConfigError(f"{self.where}: missing key {keys[0]!r} (the context length)")

    def original_context(self, seq_len: int) -> int | None:
        """rope_scaling's original_max_position_embeddings: the length before a context extension."""
        scaling = self.doc.get("rope_scaling")
        if not isinstance(scaling, dict) or scaling.get("original_max_position_embeddings") is None:
            return None
        if "rope_scaling" not in self.read:
            self.read.append("rope_scaling")
        original = scaling["original_max_position_embeddings"]
        if isinstance(original, bool) or not isinstance(original, int) or not 1 <= original <= seq_len:
            raise ConfigError(f"{self.where}: rope_scaling.original_max_position_embeddings must be a whole "
                              f"number between 1 and max_position_embeddings ({seq_len}), got {original!r}")
        return original if original < seq_len else None

    def heads(self, d: int) -> tuple[int, int, int]:
        """(H, K, head_dim) of standard multi-head / grouped-query attention."""
        n_heads = self.int("num_attention_heads")
        n_kv = self.int("num_key_value_heads", n_heads,
                        why=f"{n_heads} key/value heads, one per query head (multi-head attention)")
        if n_heads % n_kv:
            raise ConfigError(f"{self.where}: num_attention_heads ({n_heads}) is not a multiple of "
                              f"num_key_value_heads ({n_kv})")
        head_dim = self.int("head_dim", None)
        if head_dim is None:
            if d % n_heads:
                raise ConfigError(f"{self.where}: hidden_size ({d}) is not a multiple of num_attention_heads "
                                  f"({n_heads}) and there is no head_dim")
            head_dim = d // n_heads
        return n_heads, n_kv, head_dim

    def tied(self, default: bool = False) -> bool:
        return self.flag("tie_word_embeddings", default,
                         why=f"{'tied' if default else 'untied'} input and output embeddings (the {self.family} "
                             "default)")


# ---------------------------------------------------------------------------------------- counting


def _swiglu(d: int, inner: int, bias: bool = False) -> int:
    return 3 * d * inner + ((2 * inner + d) if bias else 0)


def _gqa_attention(d: int, n_heads: int, n_kv: int, head_dim: int, qkv_bias: bool, o_bias: bool) -> int:
    q, kv = n_heads * head_dim, n_kv * head_dim
    return d * q + 2 * d * kv + q * d + ((q + 2 * kv) if qkv_bias else 0) + (d if o_bias else 0)


def _finish(r: _Reader, *, d: int, n_layer: int, vocab: int, seq_len: int, non_embedding: int, active: int,
            tied: bool, positions: int = 0, moe: dict | None = None, original: int | None = None) -> dict:
    embedding = vocab * d + positions + (0 if tied else vocab * d)
    if tied:
        r.notes.append("output head tied to the input embedding: counted once")
    if positions:
        r.notes.append(f"learned position embeddings ({positions:,}) count as embedding, not in N")
    moe = moe or {}
    return {"n_params_total": non_embedding + embedding, "n_params": non_embedding, "n_params_active": active,
            "n_params_embedding": embedding, "vocab_size": vocab, "seq_len": seq_len, "n_layer": n_layer,
            "d_model": d, "tied_embeddings": tied, "original_seq_len": original, **moe}


def _common(r: _Reader) -> tuple[int, int, int, int, int | None]:
    d, n_layer = r.int("hidden_size"), r.int("num_hidden_layers")
    vocab = r.int("vocab_size")
    seq_len = r.context("max_position_embeddings")
    return d, n_layer, vocab, seq_len, r.original_context(seq_len)


def _count_llama(r: _Reader) -> dict:
    """llama, mistral and qwen2: dense decoders with (grouped-query) attention and a SwiGLU MLP."""
    d, n_layer, vocab, seq_len, original = _common(r)
    n_heads, n_kv, head_dim = r.heads(d)
    inner = r.int("intermediate_size")
    if r.family == "qwen2":
        qkv_bias, o_bias, mlp_bias = True, False, False
        r.notes.append("qwen2: q, k and v projections carry biases, o does not")
    else:
        qkv_bias = o_bias = r.flag("attention_bias", False) if r.family == "llama" else False
        mlp_bias = r.flag("mlp_bias", False) if r.family == "llama" else False
    layer = (_gqa_attention(d, n_heads, n_kv, head_dim, qkv_bias, o_bias) + _swiglu(d, inner, mlp_bias) + 2 * d)
    n = n_layer * layer + d  # + the final RMSNorm
    return _finish(r, d=d, n_layer=n_layer, vocab=vocab, seq_len=seq_len, non_embedding=n, active=n,
                   tied=r.tied(), original=original)


def _count_mixtral(r: _Reader) -> dict:
    d, n_layer, vocab, seq_len, original = _common(r)
    n_heads, n_kv, head_dim = r.heads(d)
    inner = r.int("intermediate_size")
    n_experts, top_k = r.int("num_local_experts"), r.int("num_experts_per_tok")
    _check_top_k(r, top_k, n_experts, "num_local_experts")
    shared = _gqa_attention(d, n_heads, n_kv, head_dim, False, False) + 2 * d + d * n_experts  # + router
    n = n_layer * (shared + n_experts * _swiglu(d, inner)) + d
    active = n_layer * (shared + top_k * _swiglu(d, inner)) + d
    return _finish(r, d=d, n_layer=n_layer, vocab=vocab, seq_len=seq_len, non_embedding=n, active=active,
                   tied=r.tied(), original=original,
                   moe={"n_experts": n_experts, "n_experts_active": top_k, "n_moe_layers": n_layer})


def _count_qwen2_moe(r: _Reader) -> dict:
    d, n_layer, vocab, seq_len, original = _common(r)
    n_heads, n_kv, head_dim = r.heads(d)
    n_experts = r.int("num_experts")
    top_k = r.int("num_experts_per_tok")
    _check_top_k(r, top_k, n_experts, "num_experts")
    expert = _swiglu(d, r.int("moe_intermediate_size"))
    shared_expert = _swiglu(d, r.int("shared_expert_intermediate_size", 0, minimum=0,
                                     why="no shared expert (its gate is still there, as in the HF model)"))
    step = r.int("decoder_sparse_step", 1, why="every layer is sparse (decoder_sparse_step 1)")
    dense_only = set(r.int_list("mlp_only_layers"))
    sparse_layers = [i for i in range(n_layer) if i not in dense_only and (i + 1) % step == 0]
    dense_layers = n_layer - len(sparse_layers)
    dense_mlp = _swiglu(d, r.int("intermediate_size")) if dense_layers else 0
    base = _gqa_attention(d, n_heads, n_kv, head_dim, True, False) + 2 * d
    r.notes.append("qwen2_moe: q, k and v projections carry biases, o does not")
    sparse_fixed = d * n_experts + shared_expert + d  # router, shared expert and its d·1 gate
    n = n_layer * base + dense_layers * dense_mlp + len(sparse_layers) * (sparse_fixed + n_experts * expert) + d
    active = n_layer * base + dense_layers * dense_mlp + len(sparse_layers) * (sparse_fixed + top_k * expert) + d
    if dense_layers:
        r.notes.append(f"{dense_layers} dense layers (mlp_only_layers / decoder_sparse_step) of size intermediate_size")
    return _finish(r, d=d, n_layer=n_layer, vocab=vocab, seq_len=seq_len, non_embedding=n, active=active,
                   tied=r.tied(), original=original,
                   moe={"n_experts": n_experts, "n_experts_active": top_k, "n_moe_layers": len(sparse_layers)})


def _mla_attention(r: _Reader, d: int) -> int:
    """DeepSeek's multi-head latent attention, as DeepseekV3Attention builds it."""
    n_heads = r.int("num_attention_heads")
    q_lora = r.int("q_lora_rank", None)
    kv_lora = r.int("kv_lora_rank")
    nope, rope, v_dim = r.int("qk_nope_head_dim"), r.int("qk_rope_head_dim"), r.int("v_head_dim")
    bias = r.flag("attention_bias", False)
    q_head = nope + rope
    if q_lora is None:
        q = d * n_heads * q_head
        r.notes.append("q_lora_rank null: one q projection d × heads·(qk_nope_head_dim + qk_rope_head_dim)")
    else:
        q = d * q_lora + (q_lora if bias else 0) + q_lora + q_lora * n_heads * q_head  # q_a, its norm, q_b
    kv = d * (kv_lora + rope) + ((kv_lora + rope) if bias else 0) + kv_lora + kv_lora * n_heads * (nope + v_dim)
    o = n_heads * v_dim * d + (d if bias else 0)
    return q + kv + o


def _count_deepseek(r: _Reader) -> dict:
    d, n_layer, vocab, seq_len, original = _common(r)
    attention = _mla_attention(r, d)
    n_experts = r.int("n_routed_experts")
    top_k = r.int("num_experts_per_tok")
    _check_top_k(r, top_k, n_experts, "n_routed_experts")
    expert = _swiglu(d, r.int("moe_intermediate_size"))
    n_shared = r.int("n_shared_experts", 0, minimum=0, why="no shared experts")
    first_dense = r.int("first_k_dense_replace", 0, minimum=0, why="no leading dense layers")
    freq = r.int("moe_layer_freq", 1, why="every layer from first_k_dense_replace on is MoE")
    corrected = r.text("topk_method") == "noaux_tc"  # auxiliary-loss-free balancing: one bias per expert
    dense_mlp = _swiglu(d, r.int("intermediate_size"))
    moe_layers = sum(1 for i in range(n_layer) if i >= first_dense and i % freq == 0)
    dense_layers = n_layer - moe_layers
    router = n_experts * d + (n_experts if corrected else 0)
    moe_fixed = router + n_shared * expert
    base = attention + 2 * d
    n = n_layer * base + dense_layers * dense_mlp + moe_layers * (moe_fixed + n_experts * expert) + d
    active = n_layer * base + dense_layers * dense_mlp + moe_layers * (moe_fixed + top_k * expert) + d
    r.notes.append(f"{dense_layers} dense layers (first_k_dense_replace, moe_layer_freq) and {moe_layers} MoE "
                   f"layers of {n_experts} routed + {n_shared} shared experts")
    if corrected:
        r.notes.append("router: one correction bias per expert (topk_method noaux_tc) counted with its weights")
    mtp = r.int("num_nextn_predict_layers", 0, minimum=0)
    if mtp:
        # Each MTP module: enorm, hnorm, eh_proj (2d → d), one MoE decoder layer and its head's norm; it shares
        # the main model's embedding and output head (checkpoints store copies of both).
        module = 3 * d + 2 * d * d + base + moe_fixed + n_experts * expert
        r.notes.append(f"multi-token prediction: {mtp} MTP module{'s' if mtp > 1 else ''} of {format_count(mtp * module)} parameters "
                       f"({format_count(mtp * (module + 2 * vocab * d))} with the checkpoint's copies of the "
                       "embedding and head) NOT counted: they train beside the model and are not part of it")
    return _finish(r, d=d, n_layer=n_layer, vocab=vocab, seq_len=seq_len, non_embedding=n, active=active,
                   tied=r.tied(), original=original,
                   moe={"n_experts": n_experts, "n_experts_active": top_k, "n_moe_layers": moe_layers})


def _count_gpt2(r: _Reader) -> dict:
    """nanoGPT's GPT and Hugging Face's GPT2LMHeadModel: learned positions, LayerNorm, tied head."""
    if r.family == "gpt2":
        d, n_layer, n_heads = r.int("n_embd"), r.int("n_layer"), r.int("n_head")
        vocab, seq_len = r.int("vocab_size"), r.context("n_positions", "n_ctx")
        inner = r.int("n_inner", 4 * d, why=f"MLP width 4·n_embd = {4 * d}")
        bias, tied = True, r.tied(default=True)
    else:
        d, n_layer, n_heads = r.int("n_embd"), r.int("n_layer"), r.int("n_head")
        vocab, seq_len = r.int("vocab_size"), r.context("block_size")
        inner, tied = 4 * d, True
        bias = r.flag("bias", True, why="biases in Linear and LayerNorm (nanoGPT's GPTConfig default)")
        r.notes.append("nanoGPT: MLP width 4·n_embd, GELU")
    if d % n_heads:
        raise ConfigError(f"{r.where}: n_embd ({d}) is not a multiple of n_head ({n_heads})")
    b = 1 if bias else 0
    norm = d + b * d  # LayerNorm gain (+ bias)
    layer = 2 * norm + (d * 3 * d + b * 3 * d) + (d * d + b * d) + (d * inner + b * inner) + (inner * d + b * d)
    n = n_layer * layer + norm  # + ln_f
    return _finish(r, d=d, n_layer=n_layer, vocab=vocab, seq_len=seq_len, non_embedding=n, active=n, tied=tied,
                   positions=seq_len * d)


def _check_top_k(r: _Reader, top_k: int, n_experts: int, experts_key: str) -> None:
    if top_k > n_experts:
        raise ConfigError(f"{r.where}: num_experts_per_tok ({top_k}) is more than {experts_key} ({n_experts})")


_COUNTERS = {
    "llama": _count_llama, "mistral": _count_llama, "qwen2": _count_llama, "mixtral": _count_mixtral,
    "qwen2_moe": _count_qwen2_moe, "deepseek_v3": _count_deepseek, "deepseek_v2": _count_deepseek,
    "gpt2": _count_gpt2, "nanogpt": _count_gpt2,
}

__all__ = ["ConfigError", "ConfigShape", "ModelConfig", "read_model_config", "FAMILIES"]
