"""Rebuild the shipped Marin optimizer-sweep sources (one per optimizer) from the sweep's result files.

    python3 data/sources/build_marin.py UPSTREAM_DIR            # write the tables, READMEs, catalog entries
    python3 data/sources/build_marin.py UPSTREAM_DIR --check    # verify the shipped files equal a rebuild

UPSTREAM_DIR holds `Results/<optimizer>/<size>/<multiple>/result.json`, copied unchanged from
github.com/marin-community/marin, folder `experiments/optimizer_sweep/Analysis/Results/` (each file at the
commit in UPSTREAM_FILES below). Every file's sha256 must equal the recorded one; a mismatch, a missing or
unreadable file prints one line naming the file on stderr and exits 2 with nothing written. `--check` exits 1
when a shipped table, README or catalog entry differs from the rebuild. Pure standard library: the conversion
is plain arithmetic on the upstream values and gives the same bytes on any machine.

Each result file is one (size, Chinchilla multiple) cell of one optimizer: a tuned configuration (`baseline`)
and 1-D ablations around it (the same configuration with one hyperparameter changed). Every run becomes one
row of the trial table (contract 1, docs/architecture.md); `ablated` names the column the run changed (empty
for the tuned run). Facts behind the conversion (model shapes, budgets, units, the loss): the upstream
folder's README, summarised with what is unverified in data/sources/marin-*/README.md.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = "github.com/marin-community/marin"
FOLDER = "experiments/optimizer_sweep/Analysis/Results"
CODE_VERSION = "marin-optimizer-sweep"  # one label for all files: their commits are in `upstream_commit`
DATA_ID = "marin:dclm_mixture_config_llama3"  # the sweep's token source (same for every optimizer)
TOKENIZER = "llama3"  # meta-llama/Meta-Llama-3.1-8B, vocabulary 128,256
VOCAB = 128_256
SEQ_LEN = 4096  # `train_batch_size` counts sequences of 4096 tokens (models.py seq_len=4096)
TOKENS_PER_PARAM = 20  # a Chinchilla multiple m means tokens = m * 20 * N (calculate_data_tag)
DIVERGED_LOSS = 7.0  # a final c4_en loss at or above this is a failed (diverged) run; the baselines are 2.7-3.6
CITATION = (
    "Kaiyue Wen, David Hall, Tengyu Ma, Percy Liang: Fantastic Pretraining Optimizers and Where to Find "
    "Them, arXiv 2509.02046 (2025)"
)
LICENCE = "Apache-2.0 (from the repository's source-file headers; the LICENSE file's text is unverified)"
TERMS = (
    "Apache License 2.0 as far as verified (the marin repository's source headers; its LICENSE text could not "
    "be read). Keep the attribution: cite Wen et al. (arXiv 2509.02046) and the Marin project wherever the "
    "data or anything derived from it is shipped or shown."
)
DATA_MIX = ("DCLM mixture tokenized with the Llama-3 tokenizer (dclm_mixture_config_llama3: DCLM-baseline, "
            "StarCoderData, ProofPile-2; weights at the sweep's commit unverified)")
ARCHITECTURE = ("Llama-style (Levanter): 32 layers, SwiGLU, RMSNorm, RoPE, no biases, head dim 64, no GQA; "
                "untied embeddings (Levanter default, unverified for the sweep's version)")

# size: (n_layer, d_model, n_head, d_ff, non-embedding N as the sweep's code hard-codes it)
SIZES = {
    "130m": (32, 512, 8, 2048, 134_217_728),
    "300m": (32, 768, 12, 3072, 301_989_888),
    "520m": (32, 1024, 16, 4096, 536_870_912),
    "1.2b": (32, 1536, 24, 6144, 1_207_959_552),
}
MULTIPLES = (1, 2, 4, 8, 16)

OPTIMIZERS = {  # folder: (name in words, its own knobs beyond the shared columns)
    "adamw": ("AdamW", ()),
    "nadamw": ("NAdamW", ()),
    "mini": ("Adam-mini", ()),
    "lion": ("Lion", ()),
    "mars": ("MARS", ("gamma",)),
    "cautious": ("Cautious AdamW", ()),
    "muon": ("Muon (AdamW on embeddings, LM head and norms)", ("momentum", "muon_epsilon", "muon_to_adam_lr")),
    "scion": ("Scion (Signum on embeddings, LM head and norms)", ("momentum", "scion_epsilon",
                                                                 "scion_to_signum_lr")),
    "kron": ("Kron (PSGD)", ("block_size", "normalize_grads", "partition_grads_into_blocks",
                             "preconditioner_init_scale", "preconditioner_lr", "preconditioner_update_probability",
                             "update_prob_flat_start")),
    "soape": ("SOAP", ("block_size", "partition_grads_into_blocks", "precondition_frequency", "shampoo_beta")),
    "sophia": ("Sophia", ("gamma",)),
}
# upstream key -> our column, for the settings every optimizer shares (where it sets them)
SHARED_KNOBS = {
    "learning_rate": "lr", "train_batch_size": "batch_seqs", "warmup": "warmup_steps",
    "weight_decay": "weight_decay", "beta1": "beta1", "beta2": "beta2", "epsilon": "epsilon",
    "max_grad_norm": "grad_clip", "min_lr_ratio": "min_lr_ratio", "lr_schedule": "schedule",
    "decay": "decay_fraction", "nesterov": "nesterov",
}
INT_KNOBS = {"batch_seqs", "warmup_steps", "block_size", "precondition_frequency", "update_prob_flat_start"}
BOOL_KNOBS = {"nesterov", "normalize_grads", "partition_grads_into_blocks"}
TEXT_KNOBS = {"schedule"}
DEFAULT_SCHEDULE = "cosine"  # Levanter's default lr_schedule where a run does not set one (unverified)

# contract 1 (docs/architecture.md), then what this source adds; the optimizer's own knobs come after
CONTRACT_COLUMNS = (
    "trial_id", "status", "n_params", "n_params_total", "n_layer", "d_model", "n_head", "d_ff", "vocab_size",
    "seq_len", "tokens", "lr", "batch_tokens", "batch_seqs", "steps", "warmup_steps", "schedule",
    "weight_decay", "beta1", "beta2", "grad_clip", "seed", "loss", "train_loss", "flops", "wall_s", "device",
    "data_id", "code_version", "finished_at", "error",
)
SOURCE_COLUMNS = ("n_params_active", "optimizer", "setup", "source", "tokenizer", "chinchilla_multiple",
                  "epsilon", "nesterov", "min_lr_ratio", "decay_fraction")
TRAILING_COLUMNS = ("ablated", "upstream_file", "upstream_commit", "upstream_run")

UPSTREAM_FILES = {
    "adamw/130m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "0f27c3806814d4629c0b593060c41af9dbce4ae2151b319f3ce78b752d922f34"),
    "adamw/130m/2": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "bcbbf9997571f9cbace56a88bc65978418b16d1ca90e5b4b9c76f36539067542"),
    "adamw/130m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "5bdd075a32531bd42dee51ca1a5d154aad875c256c3d4c7aa1663c2f3062c4a7"),
    "adamw/130m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "da78993b6f53eea34a1e2c74d7478d19b2d8d1f3ce10d2ff09e0afa91ac3089d"),
    "adamw/130m/16": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                     "bbe01552f44f890eb50a459d9592ad4eb51ea488609e67ea7bad3410c938b6c1"),
    "adamw/300m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "928f92d26bfa30120d9a84a51c9b3e5638126471fbb5b1cd5eb1747981af08b0"),
    "adamw/300m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "c02fb6d801e587d476996ede4e939f5212d4774c062124ecfc92342d9019d657"),
    "adamw/300m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "08f5767c17589dc4a51e9f5b340d3350493e5069988b13149f7efec13d579f73"),
    "adamw/300m/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "e1143d1bee2aecf5b60eb9e47ce837384dcb8daedd9e6270e2a2142b3d7acc8d"),
    "adamw/300m/16": ("336ab9a2d06b165a37a42caeffb6a38ed7001949",
                     "8d3470f256973af7277307f0d52d71af1778c005831fc167d55c5dc521e2c8c2"),
    "adamw/520m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "4817158124ac3c65c321ff6157d8fd1cdc236def85cf04535bfd009b2ba4c502"),
    "adamw/520m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "02a1ae9d3c97afeb3f94e6527a33a8253054bbe7bcefa6a2e8fcac9e6fcdb88a"),
    "adamw/520m/4": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "b023f32abe3b38320af0ff63eef18dbe99380417ca512484c7746673abceb626"),
    "adamw/520m/8": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                    "69c0fa77e928f953b2764ad31a7145176c95e3c43f4b3f93e25241eb89f57303"),
    "adamw/1.2b/1": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "362c2ccbda9b1f82b1626aaf5ad66d7e61d805aa216e025d5ca40cff292a2e76"),
    "adamw/1.2b/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "11b6a2cefe58746b7ffea3b02310779c72511a2eadccd9440d13fd152caafc37"),
    "adamw/1.2b/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "39a1778fef4dc996358ba83c8299ed1f893d28c9f27b6d016324ed99011588ae"),
    "adamw/1.2b/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "9194210db851908d66e18d3b2633e976156041ccc9eec856c46861ebf6660678"),
    "cautious/130m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                       "3de486b75280cc967a93c14507102df38efc827a3527643ffc1eb588256b47c3"),
    "cautious/130m/2": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                       "1e4e19f55d2415ddf84b56f24d1d568d7803cef25dd8cb43d3480fe35a3923f4"),
    "cautious/130m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                       "739c8eacb9826e3d708a4eff9f64441e972bfcf56ad247242597df2ee2aa5fcf"),
    "cautious/130m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                       "c5e8624afac83d91d56e921350dca4d96d5057e43d90fb0188846598c31eaea9"),
    "cautious/300m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                       "edc854e7cc97a2b3f5a880f4c4571d8d35a15d32f06c47c5217422d6f61642a6"),
    "cautious/300m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                       "29b081a2f3ec10627ca83862ebf94620b92e5272fa23971ad074bb290a421e59"),
    "cautious/300m/4": ("e9ef383f895e11439e8d60ec7b4cf04af16f5de5",
                       "ed406264bd471bc2230cf8b73d612f33c2a04ac71fc2660660d0efa2125803e6"),
    "cautious/300m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                       "226982c1c803e30be68118abb7c0f8369e4f2f836e2a12d32c56a35b2e45fcb9"),
    "cautious/520m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                       "830bbd888be7ddbb0e22feb3856b98273ca78f51fdd30e4e30a7ac43634ba369"),
    "cautious/520m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                       "d81ebc31e01bda288f0fd197eabe08c5f2675480be6d959620422d5f06d9bd0b"),
    "cautious/520m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                       "861a58fdbd62ce493a7fbc480055081e798cf3f1016b6a4259c4511a4f06ab89"),
    "cautious/520m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                       "f42531788eabd73298f4ba52f201b448e5c6ef2cc256bd59a606ee6717f8971c"),
    "kron/130m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "aa48c74de4771383036973d0832d43a9cc4a0ce0ac8733cd91597cc9bd52d337"),
    "kron/130m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "81b08a2d154bcb573fd857f635b0eee3ebd6a495a97efa8b073a351adbb5d5d9"),
    "kron/130m/4": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "92308db344b17154a97d1f6f3f9bdcdeb639a5f2cdc12586006837791a14586e"),
    "kron/130m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "16fae24f9489c6ff0671cbed1c8ddb4a4284f410d219409060ba81d3f72e7172"),
    "kron/300m/1": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "0404d933fafc1f7a6333960bdfa9eb6f2136b701bff66f8d1c02b38ade26295e"),
    "kron/300m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "e47bb39874d660869fc42d544fb8295badb28ffe65e3b8d38fedb6f73d04661e"),
    "kron/300m/4": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "955ce1396c54a5b99dff52c8af0e316ca4f931d9ce3b105b9661f25e1d46b47b"),
    "kron/300m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "19bf914cc5f9d95e34f194b04aa00c8a6ea26b0d04197fb036409dff09d935fc"),
    "kron/520m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "239af2f523d0342c0867236584c985d5e74b25446e1d3f027b3dd26b7219c408"),
    "kron/520m/2": ("f464fee2b6b88c04f47c32d5d2b386759fe993f3",
                   "6a6c8e3884341187e14e60adef185ad4b7a4fe8936a9433ffdb28442460b1655"),
    "kron/520m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "75ae3902b33ece3ca3f66313bf38b14711940078c1694b300d9f6a8c57c106e3"),
    "kron/520m/8": ("e9ef383f895e11439e8d60ec7b4cf04af16f5de5",
                   "b95cd59828405d72371494f875074f7bff055e92de184dc5d460c66ff04d692b"),
    "lion/130m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "f4ecf4c8e7a08fc58c1ffb88c072ce5f40079d125d3db703fdd100f3c3a07799"),
    "lion/130m/2": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                   "d99a269e1e557b63f7eed71a89633b127280c7fb43a6d00cabaefdc31ae350c8"),
    "lion/130m/4": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "976380a6d4b09c5692a9d9cb811d7f6e495fd855b0f35daaa4a158c163668a31"),
    "lion/130m/8": ("f464fee2b6b88c04f47c32d5d2b386759fe993f3",
                   "4f06abade7cbe81517aeb5fd525a1c09af1574160875357148af2fee93b86699"),
    "lion/300m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "2caf67e6f2a4c924e444f3db1b3a4d64d3ed41e550f1d56cc3818baf49b8fa1f"),
    "lion/300m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "cb33de88287ed51a698f62169a0f4a1e614e7c44a887a6dade6fc7a2403dd2ad"),
    "lion/300m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "1547193de62ca9600961bb88d64056fc5cd35dcd54ac7db6140e0d964623a2ff"),
    "lion/300m/8": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "163719a51dd3128d607fae628e1ebc1a45e37e1c975fd4047a635704f9c3a703"),
    "lion/520m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "61c8e63d0c768188807f32f170507b8ec5f6d35be25147e7bb1e84660d966ff4"),
    "lion/520m/2": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "5c57ee63b4565a5c35e498559c46e6a6bc2ccc8da03461ef92bd12026cf1feeb"),
    "lion/520m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "63e7b35c8e39a79fc8d22fe7cd89cc54ab279cb2bf511e39a161deb01c1745f5"),
    "lion/520m/8": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "fb30cbce3642b20e7bb370288b33b77a90ea1866de27f157fbf77b7834db6e08"),
    "mars/130m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "e35ee741be4d2af737dd74b0113e6166daa07ccab28e69513c62dc6b73673a48"),
    "mars/130m/2": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "ed0548e38a566ee27116ed11996a2e3b81d941b6f174d17e33c14d2e7410a4ac"),
    "mars/130m/4": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "dd58bea1f2ca5892b105c45b1605c8b737d59a770725533b73b6f7e03b99c855"),
    "mars/130m/8": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "6244f276bcc1cbeb40d524b51f55f3e7d846514b089821c209eac2a3c1348b39"),
    "mars/300m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "9401f5b39c27162e23c1a98767f6bc2719c0cc130b825b062b45160fb0a4c608"),
    "mars/300m/2": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                   "1b155fa2630d234de8f25a77b5e8badc3c05e463fb93c8d3cca011097ff2b40e"),
    "mars/300m/4": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "76b6c2a047413e04f565a3ef24ea26f77b3ea911701ef96b89b754e6481a0b29"),
    "mars/300m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "a3199f3a5815a9bd122489d9fb286aadc3e864ea07758411aeea519729176275"),
    "mars/520m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "22f3f4febe429579cd9734fcde64b12e1342fa177dd1d486d2df5e79a19f6f27"),
    "mars/520m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "f6f3290fee1122760b674e2b77f703eb0e0b9c7b7ad707481bc5089d37d826be"),
    "mars/520m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "bf03abdd12e8c4024e3dcbf86a9847a90e8e220d56f6b820085dc86a79c20cb2"),
    "mars/520m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "fc9c92dbc73adf46a31af6ad29bf4aa33a47de5309a7a1ad4703b07bda8a095e"),
    "mini/130m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "9dd0083b1221b2e243c48e5a95b576758aa31be867558206474c36e58568d9f5"),
    "mini/130m/2": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "12036b78e4233826c8eb2d9184908832dd9211939e5117066a47eeb185106326"),
    "mini/130m/4": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "066d92e7348f44c17863bd38b6b564c206b8df4e0c93e35e7154c3ac887649c0"),
    "mini/130m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "4321f53b268fd56cefc4186719b1c6355e4045a396e7b150d28839505580e267"),
    "mini/300m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "a1bb406b9fdb81b9ed5e6de83490f77b5ef54ba92889164f2ff936b10193ac65"),
    "mini/300m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "8365f350be670d8ead4fa9247d07bbf5697691c5869532f2e8d8ae007b2390b2"),
    "mini/300m/4": ("336ab9a2d06b165a37a42caeffb6a38ed7001949",
                   "b9820b43f6b97cf6abec10436a4fc0318f80df5c752e74423af6d44091f54d99"),
    "mini/300m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "99adb3bf04334704d3aede9df10e786ff348bfde81de9f1dfd08ab660e6302d4"),
    "mini/520m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "364ef870cd5c543241bdabcccc33af2cad194dc6f2da34770854a61279688d8b"),
    "mini/520m/2": ("f464fee2b6b88c04f47c32d5d2b386759fe993f3",
                   "1719af57aa40e63f714fddcd6b18ff43b469d42deab9b48749df84d03d173005"),
    "mini/520m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "358a00220ed6e3e72b6414f7b9696606e9a17d753457425b470bb6aaadb8f8c6"),
    "mini/520m/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "66d78605204441d298655d48fa971703325c8ba6c1c618f23b51f69e86813a44"),
    "muon/130m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "a647d28c0ffb8df277f8d10145ea41f1659ac41b0a0524f24963ea814b0ab4e1"),
    "muon/130m/2": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                   "083faca85c9eb59ea3ed056c56e760f9f0a569de8b33fe196286283df6fc4a96"),
    "muon/130m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "6d44a3e51806e6779cb4e7cb32e1f71b431df8017a6760a551b3f203ea364149"),
    "muon/130m/8": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "9c73b626c126fe7c65baf90005ae0b6caca2dc25293b91895901d7eabf849121"),
    "muon/130m/16": ("e9ef383f895e11439e8d60ec7b4cf04af16f5de5",
                    "a271ec7c4fddc4e2d3a8c5e8bdaaac460b935b1dfec085668a8b1214c83da9b5"),
    "muon/300m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                   "248ae5261efb37f017200a227222229c217c0e63ca17dda3658eea2adda81b1a"),
    "muon/300m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "4d0fad568b3be815f1b9ce631d41a57a88491e8d106b6dd363436c9e9733a75e"),
    "muon/300m/4": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                   "6a1969f0877930bf8cb2dba4d02270d1c407fa739f01b4f46659edab232f6656"),
    "muon/300m/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "294e2fe15ac890eb5ed547eddfb9035f0b345cc74a95e76fad6fd5346720e0eb"),
    "muon/300m/16": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "72b03fd4f7a76467802a7b3e0094fd1b353d923e4a6d2043964936d10ba15714"),
    "muon/520m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "8f7bb0da6b9e8f3a2fc287d6f3242d48153af03091ea683f907d0f258b081690"),
    "muon/520m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "b9faf567f79c0376ab638183607c891c90b74830e82865b2e2084aa13ef5f8c4"),
    "muon/520m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "76e48768d5717608f775a1996c10acf6ab7df8c326f6c16c19f50b2dea260030"),
    "muon/520m/8": ("336ab9a2d06b165a37a42caeffb6a38ed7001949",
                   "687403aa913b1e8e161346571a44cc5211dbc9807e184558a83218911da1645d"),
    "muon/1.2b/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                   "8f1b7c1764b36f022cade6f21cc284ced29333ae2ba61f2f42ab2de6957f442d"),
    "muon/1.2b/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "ca38bb73918e7ae82984f8c3e82ac0cea7cdd2beb39b2adddd7fec04dce6166d"),
    "muon/1.2b/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "9f9043c54b14e33dd4c29d9651df8cd73b3595a8297c2f895ca405f47eac0136"),
    "muon/1.2b/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                   "f4f794693c6bb8870112fd95b7af615fe12f7abd530b9d30977ac338185966fc"),
    "nadamw/130m/1": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                     "d1e6708e0563636928fa1a54fb8e940cb124335ca61f5d18c85a801ccbd4d0c9"),
    "nadamw/130m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "ea8c2fe600a9600bc3ac1acc8448f2806cdbf3147f976915a7c6e7c02569da17"),
    "nadamw/130m/4": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                     "387e6c4e27adebf63a33da987444deb00697a33c30c3572043d91ff34b977228"),
    "nadamw/130m/8": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                     "2f752757f315eee7bdef2993ac4a18904245ee14233db9d504889f84549a022f"),
    "nadamw/130m/16": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                      "321ff93ffdba3447fc4e0c1b783c31f003c400fe8315b17eebbfb227cc21e352"),
    "nadamw/300m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "c8a388d4050ef36abfab37630f6885107f7f0682be72a56b38216a4394c3d7ca"),
    "nadamw/300m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "ca7b09eb3c4f577177ef198d8b87d487a280926bf5ad8d3bb843277123890b00"),
    "nadamw/300m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "745281a91e57698073439028233d67ca1093525b1455cba2477484730b80556e"),
    "nadamw/300m/8": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                     "3a091a2fc7d67c8299a76cc1be9883bc7a9c96dc3cace13dc5611c36e95aa496"),
    "nadamw/300m/16": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                      "ffbc072a1d13753ede40d1df21c9d659de79c570bda53e7431618078816a682c"),
    "nadamw/520m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                     "f014498061aaa7e2f06dad3efd9b86a9d7928396aff4450a0e6aa651814e7161"),
    "nadamw/520m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "7f5cf4b79d2ebf7ae41bb45718a6f2256536ddfff4950588ba57c75af62d7220"),
    "nadamw/520m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "933d528d4aa707300f2e2ddae2ca0228ff7f1c8b095d46b5bfb60868479ad9fb"),
    "nadamw/520m/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                     "88a60a6179ddd983eb121c3260976412655219a944368d9b99f57c821797a437"),
    "nadamw/1.2b/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                     "b6d4f0a5309ffc077f27c682daf73db8a38ace0d24a6aab14e953a7ca2a45d74"),
    "nadamw/1.2b/2": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                     "073cd12c0c754b5dd1e5fc5b34900bcafbacd721f680c35378222e9394d376dd"),
    "nadamw/1.2b/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "4d8b4a5741b2f19572c6e832a7a0fa74f0d0045ad24ea2f7ebb90d11f366977e"),
    "nadamw/1.2b/8": ("f464fee2b6b88c04f47c32d5d2b386759fe993f3",
                     "f66952cc22fc0cb59d6adaeeea844420a8a7f815f5cee51c48e5ac4d6e7cf620"),
    "scion/130m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "a7d669336d6ce9ff6fd9844169e7005a7381b06e679ca4eb905d4f8d5b7ac68c"),
    "scion/130m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "c18a7eb2185dfc03c1871f03f66e63d7ef53e630701bc10159ae552fcb14ee93"),
    "scion/130m/4": ("f464fee2b6b88c04f47c32d5d2b386759fe993f3",
                    "9f20e6875c6ea5a7e7226b3324b9c6f334fa177bfa8ff232baa3ec5bf3e01fed"),
    "scion/130m/8": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "0bae7992e1948d11c2d2713bdd465dbdfc37e06c925eff4451d023661ad2efbc"),
    "scion/300m/1": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "1d2a647fe21c5d6aff39fc97a074139d3d89e88bd761d34b19d99cf996ca41ca"),
    "scion/300m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "5a1a7afdc0a7bd744bde2a5de19db1c6cc4255cadc5f480f3f8c6baaecddf825"),
    "scion/300m/4": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "c8916a3cf6ffb0ffb8290210de957506dceafd8fe24939adc01bd18ffdfa86d8"),
    "scion/300m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "e8aa55f743183f16b480136f872bb30d5edbd5b085854a97051c0ec973cc1b8a"),
    "scion/520m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "774cf6bc2cf8c05325a9afbeab2b0d0ef9c4399576b30879e31f086d74fbb24b"),
    "scion/520m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "777ba0a7d0673ab135b30129fec8a9cda9f5f464a80c41c5fba4a9ac59c5725f"),
    "scion/520m/4": ("336ab9a2d06b165a37a42caeffb6a38ed7001949",
                    "443d1373de022e4b86726f0a06a2a22f2dfb6c850524f05c012db7712fb29bc0"),
    "scion/520m/8": ("f464fee2b6b88c04f47c32d5d2b386759fe993f3",
                    "d22a68a8ab688d2123200b2c7eadfd596e24a5fc3eb6afeaf073e9cfb84e6d93"),
    "soape/130m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "f80c9eefbdf0d78e90efce35760d0ced497d8418b955a1480fafe14104e80108"),
    "soape/130m/2": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "3d285cf7a7bd7ecc9ec68bf87e620f38e51727f81e956171596eacb2f56040bc"),
    "soape/130m/4": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "8edfedcb89a4e2dd690c7d142394c16f97cecba3fc771e11c808514163028491"),
    "soape/130m/8": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "0b606ec2e2c7be790c6958c8bf92443cedcf476dd6800be340b3ef332f099af4"),
    "soape/130m/16": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                     "6065362d050e5cfa1c8c3fa1dc2c3a13061ce52a03a729d686d0788898c23289"),
    "soape/300m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "3df49a0adf028ff02677eda62d9fe506446e666be0340991cda7025826e812c5"),
    "soape/300m/2": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                    "a65b7bb279a0c23b34e41c831723cbada34eafea6ac05ada52103d1927595f72"),
    "soape/300m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "ab16beb49fb1a0bdc8edc93631b0cacd71508b8106316019d95e1f50a38adbf2"),
    "soape/300m/8": ("cb8b724b16e7efee36d164c258fab9c469bcdc5f",
                    "d9903bd4056a0a618eda5037ff84a38c6e6696b64620b9b6aa8a1fcf987df5f7"),
    "soape/300m/16": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "5d62425d4485d48773fca6787c8a817a87895fddd4f6d27c2a8ed379dd046f61"),
    "soape/520m/1": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                    "afb8c8d1a44d9485fed303870741755ba93460ec06e302faf9d3b59f9a9456c7"),
    "soape/520m/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "22e78a19745982ae23aea1a1e576685e753993b282f03170a08661e138ef83e7"),
    "soape/520m/4": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "9517183fda082bb707e265c0d37ab012d923625781354c8b4b4ad16c5e3d5b4f"),
    "soape/520m/8": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "cb86baeb040236ff9641b6b19d3e3cbad772a93f3e4027b5a437e8ba08f8c853"),
    "soape/1.2b/1": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "6d154f0a3cc27098e232f71efd84793beafd2c3a96a4ae5196120f900b728987"),
    "soape/1.2b/2": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "b267e1fb0a3e39c0b2b47b80323c95bddd79bd306304ca01aaacc1c6f758ba41"),
    "soape/1.2b/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                    "a7a2993c7049bf3953c273d468b673429b08ca503a69527b8abce7bf6d82eadc"),
    "soape/1.2b/8": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                    "d02c18793c4fd3889abf233ce4e11baa779375156e31980b85bc3b4b67074c5f"),
    "sophia/130m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "f2f3662804e49069f1b96cafa1a8d304120809abe300a0c91d979675f7433122"),
    "sophia/130m/2": ("6853937f8403ac502d8914d4f464bf9f4d1f0e17",
                     "4262f6d5b7b12eca50348e5b275ea2d4c727ed7aa74834d53b1fe05a3fdd4278"),
    "sophia/130m/4": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                     "e94869cd8d4092d9462ba121461204a91fc83f35f69bbec7420f67cdf8f6154b"),
    "sophia/130m/8": ("f9ee02738d17e9c48befcb3ebc14f02c279201e7",
                     "48df22145fd0d4234b7dfde9520b76a0509ae4780ff30033e52216ef6d317081"),
    "sophia/300m/1": ("231db8c37030da281e289dbf9f658367ae5b81eb",
                     "6185d3bfcbdc0409a200ccd9d14a0314be6538bfcffa6075b46f0e17a507b1b7"),
    "sophia/520m/1": ("229375800f1fc74c2c059f7dbbac1b4b151a3155",
                     "db4e0dad3d1415e6a74f674c0ac83c37114b722babdb3e7124a991ab070e52b2"),
}


def _steplaw_helpers():
    """The Step Law build script's catalog and file helpers (one implementation for every source)."""
    path = Path(__file__).resolve().parent / "build_steplaw.py"
    spec = importlib.util.spec_from_file_location("build_steplaw", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ inside data/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return sys.modules[spec.name] if sys.modules[spec.name] is not module else module


_helpers = _steplaw_helpers()
BuildError = _helpers.BuildError
sha256_bytes = _helpers.sha256_bytes
table_bytes = _helpers.table_bytes
merged_catalog = _helpers.merged_catalog
catalog_text = _helpers.catalog_text
_write_atomic = _helpers._write_atomic
_load_catalog = _helpers._load_catalog
_text = _helpers._text


@dataclass(frozen=True)
class CellFile:
    """One upstream result.json: an optimizer's (size, multiple) cell."""

    optimizer: str
    size: str
    multiple: int
    commit: str
    sha256: str

    @property
    def key(self) -> str:
        return f"{self.optimizer}/{self.size}/{self.multiple}"

    @property
    def relpath(self) -> str:
        return f"Results/{self.key}/result.json"

    @property
    def n_params(self) -> int:
        return SIZES[self.size][4]

    @property
    def tokens(self) -> int:
        return self.multiple * TOKENS_PER_PARAM * self.n_params


def cell_files(table: dict[str, tuple[str, str]], optimizer: str) -> list[CellFile]:
    """The optimizer's files in the recorded table, by size then multiple."""
    files = []
    for key, (commit, digest) in table.items():
        opt, size, multiple = key.split("/")
        if opt == optimizer:
            files.append(CellFile(opt, size, int(multiple), commit, digest))
    return sorted(files, key=lambda f: (list(SIZES).index(f.size), f.multiple))


def source_name(optimizer: str) -> str:
    return f"marin-{optimizer}"


def read_cell(upstream_dir: Path, cell: CellFile) -> dict:
    """The parsed result.json after checking its sum (BuildError naming the file otherwise)."""
    path = upstream_dir / cell.relpath
    try:
        data = path.read_bytes()
    except OSError:
        raise BuildError(f"upstream file not found: {path}") from None
    actual = sha256_bytes(data)
    if actual != cell.sha256:
        raise BuildError(f"{path}: sha256 {actual} differs from the recorded {cell.sha256}")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BuildError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("best_config"), dict):
        raise BuildError(f"{path}: no `best_config` object")
    return parsed


def upstream_runs(result: dict) -> list[tuple[str | None, object, object, str | None]]:
    """(upstream key changed or None for the tuned run, its value, loss, W&B id) of every run in the file.
    A file without `baseline` (the stub layout) has no runs; `ablations` is missing where only the tuned
    run was made."""
    if not isinstance(result.get("baseline"), dict):
        return []
    base = result["baseline"]
    runs = [(None, None, base.get("loss"), base.get("wandb_id"))]
    for item in result.get("ablations") or []:
        if not isinstance(item, dict) or "param" not in item or "value" not in item:
            raise BuildError(f"an ablation without `param` and `value`: {item!r}")
        runs.append((item["param"], item["value"], item.get("loss"), item.get("wandb_id")))
    return runs


def knob_value(column: str, value, where: str):
    """An upstream setting in our column's type (int, bool, text or float)."""
    if column in TEXT_KNOBS:
        return str(value)
    if column in BOOL_KNOBS:
        if not isinstance(value, bool):
            raise BuildError(f"{where}: {column} is not true/false: {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BuildError(f"{where}: {column} is not a number: {value!r}")
    if column in INT_KNOBS:
        if value != int(value):
            raise BuildError(f"{where}: {column} is not a whole number: {value!r}")
        return int(value)
    return float(value)


def knob_columns(optimizer: str) -> dict[str, str]:
    """Upstream key -> our column for every setting this optimizer's files may hold."""
    return {**SHARED_KNOBS, **{k: k for k in OPTIMIZERS[optimizer][1]}}


def run_settings(config: dict, optimizer: str, where: str) -> dict:
    """A run's full configuration under our column names; an unknown upstream key is refused."""
    columns = knob_columns(optimizer)
    unknown = sorted(set(config) - set(columns))
    if unknown:
        raise BuildError(f"{where}: unexpected setting(s) {', '.join(unknown)} for {optimizer}")
    settings = {columns[k]: knob_value(columns[k], v, where) for k, v in config.items()}
    settings.setdefault("schedule", DEFAULT_SCHEDULE)
    for needed in ("lr", "batch_seqs", "warmup_steps"):
        if needed not in settings:
            raise BuildError(f"{where}: best_config has no {needed}")
    return settings


def run_status(loss) -> tuple[str, float | None, str | None]:
    """(status, loss, error) of an upstream loss: null -> failed (no finished run), "NaN" or a non-finite
    number -> diverged without a loss, >= DIVERGED_LOSS -> diverged (loss kept), else ok."""
    if loss is None:
        return "failed", None, "no finished run when the result file was written (loss null)"
    if isinstance(loss, str) or isinstance(loss, bool) or not math.isfinite(float(loss)):
        return "diverged", None, f"loss recorded as {loss!r}"
    loss = float(loss)
    if loss >= DIVERGED_LOSS:
        return "diverged", loss, f"final loss {loss:.4g} >= {DIVERGED_LOSS:g}: the run failed to train"
    return "ok", loss, None


def trial_id(source: str, row: dict) -> str:
    """Stable hash of the run's converted configuration and which setting it changed."""
    keys = ("n_params", "tokens", "ablated", *knob_columns(row["optimizer"]).values())
    text = json.dumps({"source": source, **{k: row.get(k) for k in keys}}, sort_keys=True)
    return sha256_bytes(text.encode("utf-8"))[:16]


def shape_columns(cell: CellFile) -> dict:
    n_layer, d_model, n_head, d_ff, n_params = SIZES[cell.size]
    norms = (2 * n_layer + 1) * d_model  # two RMSNorms per layer and the final one
    return {"n_params": n_params, "n_params_active": n_params, "n_layer": n_layer, "d_model": d_model,
            "n_head": n_head, "d_ff": d_ff, "vocab_size": VOCAB,
            "n_params_total": n_params + 2 * VOCAB * d_model + norms}  # untied input and output embeddings


def convert_run(cell: CellFile, base: dict, run: tuple, where: str) -> dict:
    """One upstream run as a contract-1 row of its optimizer's source."""
    key, value, loss, wandb_id = run
    config = dict(base)
    if key is not None:
        if key not in config:
            raise BuildError(f"{where}: ablation of {key!r}, which best_config does not set")
        config[key] = value
    settings = run_settings(config, cell.optimizer, where)
    status, loss_value, error = run_status(loss)
    name = source_name(cell.optimizer)
    batch_tokens = settings["batch_seqs"] * SEQ_LEN
    row = dict.fromkeys(columns(cell.optimizer))
    row.update(**shape_columns(cell), **settings)
    row.update(
        status=status, seq_len=SEQ_LEN, tokens=cell.tokens, batch_tokens=batch_tokens,
        steps=cell.tokens // batch_tokens, loss=loss_value, flops=6 * cell.n_params * cell.tokens,
        data_id=DATA_ID, code_version=CODE_VERSION, error=error, optimizer=cell.optimizer, setup=name,
        source=name, tokenizer=TOKENIZER, chinchilla_multiple=cell.multiple,
        ablated=None if key is None else knob_columns(cell.optimizer)[key],
        upstream_file=f"{FOLDER}/{cell.key}/result.json", upstream_commit=cell.commit, upstream_run=wandb_id,
    )
    row["trial_id"] = trial_id(name, row)
    return row


def convert_cell(cell: CellFile, result: dict) -> list[dict]:
    where = cell.relpath
    return [convert_run(cell, result["best_config"], run, f"{where} run {i}")
            for i, run in enumerate(upstream_runs(result))]


def columns(optimizer: str) -> tuple[str, ...]:
    return CONTRACT_COLUMNS + SOURCE_COLUMNS + OPTIMIZERS[optimizer][1] + TRAILING_COLUMNS


def convert_optimizer(upstream_dir: Path, optimizer: str, table: dict) -> tuple[list[dict], list[tuple]]:
    """All rows of one optimizer's source, and (cell file, parsed result) per upstream file."""
    rows, cells = [], []
    for cell in cell_files(table, optimizer):
        result = read_cell(upstream_dir, cell)
        rows.extend(convert_cell(cell, result))
        cells.append((cell, result))
    seen = set()
    for row in rows:
        if row["trial_id"] in seen:
            raise BuildError(f"{row['upstream_file']}: two runs with one configuration ({row['trial_id']})")
        seen.add(row["trial_id"])
    return rows, cells


def _tuned(rows: list[dict], column: str) -> list:
    """Distinct values of a column over the tuned (baseline) runs, sorted."""
    return sorted({r[column] for r in rows if r["ablated"] is None and r.get(column) is not None})


def _budgets(cells: list[tuple], rows: list[dict]) -> dict[str, list[int]]:
    """Size -> the Chinchilla multiples that have runs (a stub file without runs does not count)."""
    have = {(r["n_params"], r["chinchilla_multiple"]) for r in rows}
    out: dict[str, list[int]] = {}
    for cell, _ in cells:
        if (cell.n_params, cell.multiple) in have:
            out.setdefault(cell.size, []).append(cell.multiple)
    return out


def missing_cells(budgets: dict[str, list[int]]) -> str:
    """What of the sweep's grid (4 sizes x 1-16x Chinchilla) has no runs here, in words."""
    gaps = [f"no {size}" for size in SIZES if size not in budgets]
    for m in MULTIPLES:
        lacking = [size for size in budgets if m not in budgets[size]]
        if lacking:
            gaps.append(f"no {m}x" if len(lacking) == len(budgets) else f"no {m}x at {', '.join(lacking)}")
    return "; ".join(gaps) or "none"


def _schedule_text(rows: list[dict]) -> str:
    decays = _tuned(rows, "decay_fraction")
    if decays:
        return ("linear warmup, constant, then linear decay to min_lr over the last decay_fraction of the run "
                f"(tuned decay_fraction {', '.join(map(_text, decays))})")
    return "linear warmup then cosine decay to min_lr over all remaining steps (Levanter default; unverified)"


def setup_metadata(optimizer: str, rows: list[dict], cells: list[tuple]) -> dict:
    """What `advisor sources` shows of this setup: data, tokenizer, shapes, schedule, tuned knobs, grid."""
    tuned = {c: _tuned(rows, c) for c in ("warmup_steps", "weight_decay", "beta1", "beta2", "grad_clip",
                                          "min_lr_ratio", "lr", "batch_seqs")}
    budgets = _budgets(cells, rows)
    return {
        "data": DATA_MIX, "tokenizer": "Llama-3 (meta-llama/Meta-Llama-3.1-8B, vocabulary 128,256)",
        "seq_len": SEQ_LEN, "architecture": ARCHITECTURE, "optimizer": optimizer,
        "optimizer_name": OPTIMIZERS[optimizer][0], "schedule": _schedule_text(rows),
        "tuned": {k: v for k, v in tuned.items() if v},
        "sizes": {size: SIZES[size][4] for size in budgets},
        "chinchilla_multiples": budgets, "tokens_per_param": TOKENS_PER_PARAM,
        "missing": missing_cells(budgets), "runs": len(rows),
        "loss": "final Paloma c4_en evaluation loss (nats/token, Llama-3 tokens)",
    }


def manifest_sha256(cells: list[tuple]) -> str:
    """One sum over the optimizer's upstream files: sha256 of the lines `<sha256>  Results/<...>/result.json`."""
    text = "".join(f"{cell.sha256}  {cell.relpath}\n" for cell, _ in cells)
    return sha256_bytes(text.encode("utf-8"))


def count_cells(rows: list[dict]) -> int:
    return len({(r["n_params"], r["tokens"]) for r in rows})


def catalog_entry(optimizer: str, rows: list[dict], cells: list[tuple], table: bytes) -> dict:
    name = source_name(optimizer)
    sizes = _budgets(cells, rows)
    return {
        "name": name, "kind": "source",
        "description": (f"Marin's {OPTIMIZERS[optimizer][0]} runs (Wen et al. 2025): a tuned configuration "
                        f"and 1-D ablations per cell; {count_cells(rows)} cells, {', '.join(sizes)}, "
                        f"1-{max(max(m) for m in sizes.values())}x Chinchilla, sequence length {SEQ_LEN}"),
        "path": f"sources/{name}/trials.csv", "rows": len(rows), "cells": count_cells(rows),
        "diverged": sum(r["status"] == "diverged" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "upstream": REPO, "upstream_folder": f"{FOLDER}/{optimizer}", "upstream_files": len(cells),
        "commits": sorted({cell.commit for cell, _ in cells}),
        "upstream_sha256": manifest_sha256(cells), "table_sha256": sha256_bytes(table),
        "citation": CITATION, "licence": LICENCE, "terms": TERMS,
        "setup": setup_metadata(optimizer, rows, cells),
    }


COLUMN_MAPPING = (
    ("`n_params`, `n_params_active`", "size folder", "non-embedding parameters N = 32·(4d² + 3d·d_ff) (the "
     "sweep's `calculate_param`; checked against the hard-coded `expected_params`)"),
    ("`n_params_total`", "—", "N + 2·128,256·d (untied input and output embeddings) + (2·32+1)·d (RMSNorm "
     "weights); untied is Levanter's default, unverified for the sweep's version"),
    ("`n_layer`, `d_model`, `n_head`, `d_ff`, `vocab_size`", "size folder", "the sweep's LlamaConfig (models.py)"),
    ("`seq_len`", "—", "4096 tokens (models.py `seq_len=4096`)"),
    ("`tokens`", "multiple folder", "D = multiple × 20 × N (the sweep's `calculate_data_tag`)"),
    ("`chinchilla_multiple`", "multiple folder", "1, 2, 4, 8 or 16"),
    ("`lr`", "`learning_rate`", "peak learning rate (for Muon/Scion: of the matrix part; the other part's LR is "
     "`lr` × `muon_to_adam_lr` / `scion_to_signum_lr`)"),
    ("`batch_seqs`", "`train_batch_size`", "sequences of 4096 tokens per optimizer step"),
    ("`batch_tokens`", "`train_batch_size` × 4096", "tokens per step"),
    ("`steps`", "—", "tokens // batch_tokens (the sweep's `create_configs`)"),
    ("`warmup_steps`", "`warmup`", "linear warmup, in steps (every value is 0 or > 1, so steps under Levanter's "
     "fraction-or-steps rule)"),
    ("`schedule`", "`lr_schedule`", "`linear` where set (Muon, Scion), else `cosine`: Levanter's default, "
     "unverified for the sweep's version"),
    ("`decay_fraction`", "`decay`", "fraction of the run spent decaying (Muon, Scion; a warmup-stable-decay "
     "schedule); empty where not set: the decay then covers all steps after warmup"),
    ("`min_lr_ratio`", "`min_lr_ratio`", "final LR / peak LR (0 in every tuned configuration)"),
    ("`weight_decay`, `beta1`, `beta2`, `epsilon`, `nesterov`", "same names", "as set by the run; empty where "
     "the optimizer has no such setting (Muon/Scion: β's and ε of the AdamW/Signum part)"),
    ("`grad_clip`", "`max_grad_norm`", "global gradient-norm clip; 0 = no clipping (read as Levanter does; "
     "unverified)"),
    ("`loss`", "`baseline.loss` / `ablations[].loss`", "final Paloma c4_en evaluation loss, nats per Llama-3 "
     "token (W&B summary `eval/paloma/c4_en/loss`); not a training loss"),
    ("`status`, `error`", "the loss", "see *Status* below"),
    ("`ablated`", "`ablations[].param`", "our column the run changed from the tuned configuration; empty for "
     "the tuned run itself"),
    ("`flops`", "—", "6·N·D with non-embedding N"),
    ("`optimizer`, `setup`, `source`", "optimizer folder", "the optimizer's folder name; the source's name"),
    ("`tokenizer`, `data_id`, `code_version`", "—", f"`{TOKENIZER}`, `{DATA_ID}`, `{CODE_VERSION}`"),
    ("`upstream_file`, `upstream_commit`, `upstream_run`", "path, commit, `wandb_id`", "where the row comes from "
     "(the W&B run name; empty where upstream has none)"),
    ("`trial_id`", "—", "first 16 hex of sha256 of the converted configuration, the changed column and the "
     "source name"),
    ("`train_loss`, `seed`, `wall_s`, `device`, `finished_at`", "—", "**empty**: not in the result files"),
)

UNVERIFIED = (
    "The licence text (the repository's LICENSE could not be read; Apache-2.0 is taken from its source headers).",
    "The data mixture's exact components and weights at the sweep's commit (`dclm_mixture_config_llama3`).",
    "The Levanter version the sweep ran with, and with it: untied embeddings (so `n_params_total`), the "
    "`cosine` default where a run sets no `lr_schedule`, whether `decay = 1` meant the whole run, and "
    "`max_grad_norm = 0` meaning no clipping.",
    "Whether each listed commit holds the final version of its file (the repository keeps 2 to 4 versions of "
    "each; the upstream copies hold one).",
    "Which script wrote the older-layout files (no `result`/`name` blocks).",
    f"The diverged threshold: runs are marked `diverged` at a final loss ≥ {DIVERGED_LOSS:g} (the collapsed "
    "runs cluster at 7–8 nats; the sweep's own rule, a minimum c4_en loss ≥ 6 after step 2000, needs the "
    "loss curves, which the files do not hold). Runs between 4 and 7 nats stay `ok` with their loss.",
)

# what the upstream folder's README says of single files, beyond what the files show by themselves
FILE_NOTES = {
    "soape/130m/2": "an intermediate version of the file (other versions upstream may be complete): the tuned "
                    "run's loss is null and 21 of 22 ablation losses are null",
    "soape/1.2b/1": "the tuned run is a bf16 run (`soapebf16` in its name); the other 1.2b tuned runs are "
                    "`soapeweightf32` runs",
    "sophia/130m/2": "a 240-byte stub",
    "muon/300m/16": "the tuned run's loss is null; `min_loss` comes from other runs",
}


def _fmt(x) -> str:
    return "" if x is None else (f"{x:.4g}" if isinstance(x, float) else str(x))


def cell_lines(cells: list[tuple], rows: list[dict]) -> list[str]:
    """The per-file table: provenance, runs and what the LR and batch profiles tried."""
    lines = ["| size | multiple | tokens | commit | sha256 | runs (ok/diverged/failed) | tuned lr | tuned batch "
             "| tuned loss | LRs tried | batches tried |", "|---|---:|---:|---|---|---|---:|---:|---:|---|---|"]
    for cell, _ in cells:
        mine = [r for r in rows if r["upstream_file"].endswith(f"/{cell.key}/result.json")]
        counts = "/".join(str(sum(r["status"] == s for r in mine)) for s in ("ok", "diverged", "failed"))
        base = next((r for r in mine if r["ablated"] is None), {})
        lrs = sorted({r["lr"] for r in mine if r["ablated"] in (None, "lr")})
        batches = sorted({r["batch_seqs"] for r in mine if r["ablated"] in (None, "batch_seqs")})
        lines.append(f"| {cell.size} | {cell.multiple} | {cell.tokens:,} | `{cell.commit[:12]}` | `{cell.sha256}` "
                     f"| {len(mine)} ({counts}) | {_fmt(base.get('lr'))} | {_fmt(base.get('batch_seqs'))} "
                     f"| {_fmt(base.get('loss'))} | {', '.join(map(_fmt, lrs))} "
                     f"| {', '.join(map(_fmt, batches))} |")
    return lines


def oddity_lines(cells: list[tuple], rows: list[dict]) -> list[str]:
    """What in this optimizer's files is incomplete or odd, file by file (kept as it is)."""
    out = []
    for cell, result in cells:
        mine = [r for r in rows if r["upstream_file"].endswith(f"/{cell.key}/result.json")]
        notes = [FILE_NOTES[cell.key]] if cell.key in FILE_NOTES else []
        if not mine:
            notes.append("no runs (a stub holding `best_config` and `min_loss` only)")
        if result.get("num_left"):
            notes.append(f"`num_left` {result['num_left']}")
        losses = [r["loss"] for r in mine if r["loss"] is not None]
        if losses and isinstance(result.get("min_loss"), (int, float)) and result["min_loss"] < min(losses):
            notes.append(f"`min_loss` {result['min_loss']:.4f} is below every listed run (taken over all tagged "
                         "runs upstream)")
        for status in ("failed", "diverged"):
            n = sum(r["status"] == status for r in mine)
            if n:
                notes.append(f"{n} {status}")
        unnamed = sum(r["upstream_run"] is None for r in mine)
        if unnamed:
            notes.append(f"{unnamed} run(s) without a W&B id")
        if notes:
            out.append(f"- {cell.key}: " + "; ".join(notes))
    return out or ["- none"]


def knob_lines(optimizer: str) -> list[str]:
    own = OPTIMIZERS[optimizer][1]
    if not own:
        return ["This optimizer has no settings beyond the shared columns."]
    return [f"Its own settings, one column each under the upstream name: {', '.join(f'`{k}`' for k in own)} "
            "(booleans as `True`/`False`)."]


def readme_head(entry: dict, rows: list[dict]) -> list[str]:
    setup, name = entry["setup"], entry["name"]
    sizes = ", ".join(f"{s} (N = {n:,})" for s, n in setup["sizes"].items())
    grid = "; ".join(f"{s}: {', '.join(f'{m}x' for m in ms)}" for s, ms in setup["chinchilla_multiples"].items())
    return [
        f"# `{name}`: Marin's {setup['optimizer_name']} runs (Wen et al. 2025)", "",
        f"{entry['rows']:,} pretraining runs, one row per run, converted to this project's trial table (contract "
        f"1, docs/architecture.md): {entry['cells']} (N, D) cells, {entry['rows'] - entry['diverged'] - entry['failed']} "
        f"`ok`, {entry['diverged']} `diverged`, {entry['failed']} `failed`. Sizes: {sizes}. Token budgets "
        f"(Chinchilla multiples, 20 tokens per non-embedding parameter): {grid}. Missing from the sweep's "
        f"grid: {setup['missing']}. The Marin authors measured these runs; this folder only changes their "
        "layout and units. Cite them (below) wherever you use it.", "",
        "Each cell is a **coordinate-descent** result, not a grid: a tuned configuration (the row with an "
        "empty `ablated`) and 1-D ablations around it, each changing one setting (`ablated` names it) on a "
        "grid of about 2× steps. The LR profile of a cell is its tuned run plus the rows with `ablated = lr`; "
        "the batch profile likewise with `batch_seqs`. An optimum at a profile's end is a bound, not a value "
        "(docs/fitting.md, *Coordinate-descent sources*).", "",
        "## Provenance", "", "| | |", "|---|---|",
        f"| Upstream | {REPO}, folder `{entry['upstream_folder']}/` ({entry['upstream_files']} `result.json` "
        "files, listed under *Cells* with commit and sha256) |",
        f"| Commits | {', '.join(f'`{c}`' for c in entry['commits'])} |",
        f"| Upstream sha256 | per file under *Cells*; over all of them `{entry['upstream_sha256']}` (sha256 of the "
        "lines `<sha256>  Results/<optimizer>/<size>/<multiple>/result.json`, in table order) |",
        f"| Converted `trials.csv` sha256 | `{entry['table_sha256']}` |",
        f"| `data_id` / `code_version` | `{DATA_ID}` / `{CODE_VERSION}` |",
        f"| Catalog entry | `data/catalog.json`, name `{name}`, with the setup below under `setup` |", "",
        "Rebuild and check (standard library only; every upstream sum is checked first, and nothing is written "
        "when a file is missing or differs):", "", "```bash",
        "python3 data/sources/build_marin.py UPSTREAM_DIR            # writes every marin-* table, README and "
        "catalog entry",
        "python3 data/sources/build_marin.py UPSTREAM_DIR --check    # exit 0: the shipped files equal the rebuild",
        "```", "", "UPSTREAM_DIR holds `Results/<optimizer>/<size>/<multiple>/result.json` as in the repository.",
    ]


def readme_setup(entry: dict) -> list[str]:
    setup = entry["setup"]
    tuned = "; ".join(f"`{k}` {', '.join(map(_text, v))}" for k, v in setup["tuned"].items())
    lines = ["", "## Citation", "", f"{CITATION}. The runs were made with the Marin project "
             f"({REPO}) and its Levanter trainer.", "", "## Licence and terms", "", TERMS, "",
             "## Setup (what every run shares)", "",
             f"- Data: {setup['data']}.", f"- Tokenizer: {setup['tokenizer']}.",
             f"- Sequence length {SEQ_LEN}; batch sizes are counted in sequences of {SEQ_LEN} tokens.",
             f"- Architecture: {setup['architecture']}.", f"- Optimizer: {setup['optimizer_name']}.",
             f"- Schedule: {setup['schedule']}.",
             f"- Tuned values over the cells: {tuned}.", f"- Loss: {setup['loss']}.", "",
             "| size | n_layer | d_model | n_head | d_ff | N (non-embedding) | n_params_total |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for size in setup["sizes"]:
        n_layer, d_model, n_head, d_ff, n = SIZES[size]
        total = n + 2 * VOCAB * d_model + (2 * n_layer + 1) * d_model
        lines.append(f"| {size} | {n_layer} | {d_model} | {n_head} | {d_ff} | {n:,} | {total:,} |")
    return lines


def readme_text(optimizer: str, entry: dict, rows: list[dict], cells: list[tuple]) -> str:
    lines = readme_head(entry, rows) + readme_setup(entry)
    lines += ["", "## Cells", "", "LRs and batches tried: the values on the cell's LR and batch profiles "
              "(tuned run plus its 1-D ablations), diverged and failed runs included.", ""]
    lines += cell_lines(cells, rows)
    lines += ["", "## Column mapping and units", "", "| our column | from upstream | unit, notes |",
              "|---|---|---|"]
    lines += [f"| {ours} | {theirs} | {notes} |" for ours, theirs, notes in COLUMN_MAPPING]
    lines += ["", *knob_lines(optimizer), "", "## Status", "",
              f"- `ok`: a numeric final loss below {DIVERGED_LOSS:g}.",
              f"- `diverged`: a loss ≥ {DIVERGED_LOSS:g} (kept in `loss`), or the string `\"NaN\"` or a "
              "non-finite number (`loss` empty); `error` says which.",
              "- `failed`: loss `null` upstream (the run was missing or unfinished when the file was written); "
              "`loss` empty. Upstream's `min_loss` (the best over all runs tagged for the cell, listed or not) "
              "and `approximate_best_config_list` are not rows.", "",
              "## Not verified", "", *[f"- {item}" for item in UNVERIFIED], "",
              "## Oddities in these files (kept as they are)", "", *oddity_lines(cells, rows), "",
              "## Using it", "", "```bash", f"advisor sources {entry['name']}",
              f"advisor fit {entry['name']} -o runs/{entry['name']}/model.json --report runs/{entry['name']}/report",
              "```", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class Built:
    optimizer: str
    table: bytes
    readme: bytes
    entry: dict

    @property
    def folder(self) -> str:
        return f"sources/{source_name(self.optimizer)}"


def build_one(upstream_dir: Path, optimizer: str, table: dict) -> Built:
    rows, cells = convert_optimizer(upstream_dir, optimizer, table)
    if not rows:
        raise BuildError(f"{upstream_dir}: no runs of {optimizer} in the recorded files")
    data = table_bytes(rows, columns(optimizer))
    entry = catalog_entry(optimizer, rows, cells, data)
    return Built(optimizer, data, readme_text(optimizer, entry, rows, cells).encode("utf-8"), entry)


def build(upstream_dir: Path, table: dict | None = None) -> list[Built]:
    """Every optimizer's source, in OPTIMIZERS order; raises BuildError before anything is written."""
    table = UPSTREAM_FILES if table is None else table
    present = {key.split("/")[0] for key in table}
    return [build_one(upstream_dir, opt, table) for opt in OPTIMIZERS if opt in present]


def differences(data_dir: Path, built: list[Built]) -> list[str]:
    """What in data_dir differs from the rebuild (empty when the shipped files are byte-identical)."""
    problems = []
    for b in built:
        for name, data in (("trials.csv", b.table), ("README.md", b.readme)):
            path = data_dir / b.folder / name
            if not path.is_file() or path.read_bytes() != data:
                problems.append(f"{path} differs from the rebuild (sha256 {sha256_bytes(data)})")
    catalog_path = data_dir / "catalog.json"
    shipped = {e.get("name"): e for e in _load_catalog(catalog_path)["entries"]
               if isinstance(e, dict) and e.get("kind") == "source"}
    for b in built:
        if shipped.get(b.entry["name"]) != b.entry:
            problems.append(f"{catalog_path}: the entry {b.entry['name']!r} differs from the rebuild")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Rebuild the shipped Marin optimizer-sweep sources.")
    parser.add_argument("upstream_dir", type=Path, help="folder with Results/<optimizer>/<size>/<multiple>/")
    parser.add_argument("--check", action="store_true", help="verify the shipped files instead of writing them")
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the data/ folder to write or check (default: this checkout's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not args.upstream_dir.is_dir():
            raise BuildError(f"upstream folder not found: {args.upstream_dir}")
        built = build(args.upstream_dir)
        if args.check:
            problems = differences(args.data_dir, built)
            for line in problems:
                print(f"build_marin: {line}", file=sys.stderr)
            return 1 if problems else 0
        catalog_path = args.data_dir / "catalog.json"
        catalog = merged_catalog(_load_catalog(catalog_path), [b.entry for b in built])
    except BuildError as exc:
        print(f"build_marin: error: {exc}", file=sys.stderr)
        return 2
    for b in built:
        _write_atomic(args.data_dir / b.folder / "trials.csv", b.table)
        _write_atomic(args.data_dir / b.folder / "README.md", b.readme)
        e = b.entry
        print(f"{e['name']}: {e['rows']} rows, {e['cells']} cells, {e['diverged']} diverged, {e['failed']} failed, "
              f"sha256 {e['table_sha256']}")
    _write_atomic(catalog_path, catalog_text(catalog).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
