"""gptkit/interop/gguf_export.py: a GGUF file, read by transformers' own GGUF loader (a reader nobody here wrote), is
model.py's model: its logits to 1e-4 at f32, exactly llama.cpp's q8_0 rounding of our matrices at q8_0, and
our tokenizer's tokens (GPT-2's, or a trained one's vocabulary and merges under llama.cpp's "llama-bpe"); the
settings llama.cpp reads are ours; what GGUF cannot hold is refused in one line before
any file is written.

transformers' GGUF reader (5.24) has two gaps that these models step around, since it is only the reader here:
it reads GPT-2's context length into `n_ctx`, which GPT2Config ignores (a GPT-2 file must have 1024 positions to
load), and it ignores Starcoder2's `rope.freq_base` (theta stays 10000). llama.cpp reads both: check_runtimes.py
runs it at context 128 and theta 500, and test_settings_llama_cpp_reads_are_ours reads them from the file."""

from dataclasses import asdict

import pytest
import torch

from conftest import BPE_VOCAB, tiny_bpe, tiny_gpt
from gptkit.data.tokenizer import get_tokenizer
from gptkit.errors import UserError
from gptkit.interop import gguf_export
from gptkit.interop.gguf_export import check_gguf_export, write_gguf
from model import GPTConfig

transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

# Texts for GPT-2's pre-tokenizer: contractions, digits, runs of spaces and newlines (trailing ones too),
# accents, CJK, emoji, code, and end-of-text written out.
TEXTS = [
    "It's 2026; they'll say I'm fine, we've seen 1234567 things... ok?!",
    "  two leading spaces\n\n\ttab\r\nwindows   three   \n \n",
    "naïve café, Straße, Ελληνικά, русский, 日本語, 한국어 🎉 x²",
    "def f(x):\n    return {'a': [1, 2]}  # <tag attr=\"v\">&amp;</tag>",
    "one document<|endoftext|>another<|endoftext|>",
]


def random_model(block_size=1024, vocab_size=50304, **toggles):
    """A tiny model (GPT-2's padded vocabulary unless told) with every weight random, so that a wrong mapping shows."""
    return tiny_gpt(noise=0.1, block_size=block_size, vocab_size=vocab_size, **toggles)


def write(model, path, gguf_type="f32", tokenizer=None, **rope_scaling):
    tokenizer = tokenizer or get_tokenizer("gpt2")
    write_gguf(path, {**asdict(model.config), **rope_scaling}, model.state_dict(), tokenizer, gguf_type)
    return path


def load(path):
    options = dict(gguf_file=path.name, dtype=torch.float32)
    return transformers.AutoModelForCausalLM.from_pretrained(path.parent, **options).eval()


# GPT-2 (learned positions, MHA, tied, biases) and Starcoder2 (RoPE, GQA, untied, no biases: zeros in the file)
MODELS = {
    "gpt2": dict(),
    "starcoder2": dict(pos_emb="rope", n_kv_head=2, tie_embeddings=False, bias=False),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{name: (model, GGUF path)}: each family at f32 and Starcoder2 at q8_0, in a tiny trained tokenizer's tokens
    (transformers' model reader took ~25 s a file with GPT-2's 50,304 rows on 2 cores, ~2 s with these 384), and
    one file of a model in GPT-2's tokens for the tokenizer's own test."""
    root, tokenizer = tmp_path_factory.mktemp("gguf"), tiny_bpe()
    models = {family: random_model(vocab_size=BPE_VOCAB, **toggles) for family, toggles in MODELS.items()}
    made = {
        family: (model, write(model, root / f"{family}.gguf", tokenizer=tokenizer)) for family, model in models.items()
    }
    made["q8_0"] = (models["starcoder2"], write(models["starcoder2"], root / "q8_0.gguf", "q8_0", tokenizer))
    gpt2_model = random_model(block_size=64)
    made["gpt2_tokens"] = (gpt2_model, write(gpt2_model, root / "gpt2_tokens.gguf"))
    return made


@pytest.mark.parametrize("family", MODELS)
def test_transformers_reads_the_f32_file_as_our_model(files, family):
    ours, path = files[family]
    theirs = load(path)
    assert type(theirs).__name__ == {"gpt2": "GPT2LMHeadModel", "starcoder2": "Starcoder2ForCausalLM"}[family]
    assert theirs.config.tie_word_embeddings == ours.config.tie_embeddings
    idx = torch.randint(0, BPE_VOCAB, (2, 64))
    with torch.no_grad():
        assert (theirs(idx).logits - ours(idx)[0]).abs().max().item() <= 1e-4
    prompt = idx[:, :8]
    options = dict(attention_mask=torch.ones_like(prompt), max_new_tokens=16, do_sample=False, eos_token_id=None)
    assert torch.equal(theirs.generate(prompt, **options), ours.generate(prompt, 16, temperature=0))


@pytest.mark.parametrize(
    "toggles",
    [
        dict(norm="rmsnorm", mlp_activation="swiglu", n_head=6, n_kv_head=2),
        dict(norm="rmsnorm", mlp_activation="swiglu", qk_norm=True, norm_weights=False, n_head=1, mlp_width=256),
    ],
    ids=["llama", "qwen3"],
)
def test_transformers_reads_the_rmsnorm_families_as_our_model(tmp_path, toggles):
    """Llama's file holds each head's query and key rows reordered for llama.cpp's neighbouring pairs, which
    transformers' reader puts back; transformers' reader takes Qwen3's head size as 128 whatever the file says
    (llama.cpp reads it), so that model has heads of 128."""
    width = 48 if toggles["n_head"] == 6 else 128
    shape = dict(block_size=1024, vocab_size=BPE_VOCAB, n_layer=2, n_embd=width, pos_emb="rope", rope_theta=500.0)
    ours = tiny_gpt(noise=0.1, **shape, bias=False, tie_embeddings=False, **toggles)
    path = write(ours, tmp_path / "model.gguf", tokenizer=tiny_bpe())
    theirs = load(path)
    assert type(theirs).__name__ == ("Qwen3ForCausalLM" if ours.config.qk_norm else "LlamaForCausalLM")
    idx = torch.randint(0, BPE_VOCAB, (2, 48))
    with torch.no_grad():
        assert (theirs(idx).logits - ours(idx)[0]).abs().max().item() <= 1e-4
    assert theirs.config.rms_norm_eps == pytest.approx(1e-6) and theirs.config.rope_parameters["rope_theta"] == 500


def q8_0(weight):
    """llama.cpp's q8_0, computed here as ggml-quants.c does it: each block of 32 values along a row becomes
    whole steps of max|block| / 127 (times 1/step, rounded half away from zero, as C's roundf), and the step is
    stored in fp16."""
    blocks = weight.reshape(-1, 32)
    step = blocks.abs().amax(dim=1, keepdim=True) / 127
    scaled = blocks * torch.where(step > 0, 1 / step, 0)
    steps = scaled.sign() * (scaled.abs() + 0.5).floor()
    return (steps * step.half().float()).reshape(weight.shape)


def test_q8_0_file_is_our_model_with_its_matrices_rounded_to_8_bits(files):
    """Vectors (norms, biases) stay f32; every matrix is rounded as q8_0 rounds it and nothing else changes,
    so the file's logits are those of our model with q8_0 matrices, to 1e-4: that is the exact check. How far
    they are from the unrounded model's depends on the model (each weight moves by at most half a step, 0.4% of
    its block's largest): this one's move by up to 0.05, where their standard deviation is 0.58; the bound is
    twice that, and a file that ignored the rounding (1e-3 or less) would fail it too."""
    ours, path = files["q8_0"]
    rounded = random_model(vocab_size=BPE_VOCAB, **MODELS["starcoder2"])
    with torch.no_grad():
        for p in rounded.parameters():
            if p.dim() == 2:
                p.copy_(q8_0(p))
    theirs = load(path)
    idx = torch.randint(0, BPE_VOCAB, (2, 64))
    with torch.no_grad():
        their_logits, rounded_logits, our_logits = theirs(idx).logits, rounded(idx)[0], ours(idx)[0]
    assert (their_logits - rounded_logits).abs().max().item() <= 1e-4
    assert 1e-3 < (their_logits - our_logits).abs().max().item() <= 0.1


def test_tokenizer_from_the_file_encodes_as_tiktoken(files):
    import tiktoken

    _, path = files["gpt2_tokens"]
    tokenizer = transformers.PreTrainedTokenizerFast.from_pretrained(path.parent, gguf_file=path.name)
    encoding = tiktoken.get_encoding("gpt2")
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]  # the literal <|endoftext|> is the special token, in both
        assert ids == encoding.encode(text, allowed_special="all"), text
        assert tokenizer.decode(ids) == text
    assert tokenizer.bos_token == tokenizer.eos_token == "<|endoftext|>"
    assert tokenizer.convert_tokens_to_ids("<|endoftext|>") == 50256 and len(tokenizer) == 50304


def test_a_trained_tokenizer_goes_in_with_its_vocabulary_merges_and_llama_cpps_name_for_its_pattern(tmp_path):
    import json

    from tokenizers import Tokenizer

    ours = tiny_bpe()
    model = tiny_gpt(block_size=64, vocab_size=512, n_layer=1, n_head=2, n_embd=16, pos_emb="rope")
    path = tmp_path / "model.gguf"
    write_gguf(path, asdict(model.config), model.state_dict(), ours, "f32")
    fields = gguf.GGUFReader(path).fields
    vocabulary = sorted(Tokenizer.from_str(ours.definition).get_vocab().items(), key=lambda item: item[1])
    padding = [f"[PAD{i}]" for i in range(ours.n_vocab, 512)]  # the model's padded rows
    assert fields["tokenizer.ggml.tokens"].contents() == [token for token, _ in vocabulary] + padding
    merges = [" ".join(pair) for pair in json.loads(ours.definition)["model"]["merges"]]
    assert fields["tokenizer.ggml.merges"].contents() == merges and len(merges) >= ours.n_vocab - 257
    assert fields["tokenizer.ggml.pre"].contents() == "llama-bpe"
    assert fields["tokenizer.ggml.eos_token_id"].contents() == ours.eot_token
    # transformers' GGUF reader applies llama-bpe's split pattern: it tokenizes as we do
    theirs = transformers.PreTrainedTokenizerFast.from_pretrained(tmp_path, gguf_file=path.name)
    for text in TEXTS:
        documents = text.split("<|endoftext|>")
        joined = [t for i, d in enumerate(documents) for t in ([ours.eot_token] if i else []) + ours.encode(d)]
        assert theirs(text)["input_ids"] == joined, text


def read_metadata(path):
    reader = pytest.importorskip("transformers.integrations.gguf.reader")  # transformers' own parser
    return reader.read_gguf_metadata(str(path))[0]


def test_settings_llama_cpp_reads_are_ours(tmp_path):
    model = random_model(block_size=128, pos_emb="rope", n_kv_head=1, rope_theta=500.0)
    metadata = read_metadata(write(model, tmp_path / "model.gguf", "f16"))
    expected = {
        "general.architecture": "starcoder2",
        "starcoder2.context_length": 128,
        "starcoder2.embedding_length": 32,
        "starcoder2.feed_forward_length": 128,
        "starcoder2.block_count": 2,
        "starcoder2.attention.head_count": 4,
        "starcoder2.attention.head_count_kv": 1,
        "starcoder2.rope.freq_base": 500.0,
        "general.file_type": gguf.LlamaFileType.MOSTLY_F16,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "gpt-2",  # the pre-tokenizer llama.cpp knows GPT-2's by
        "tokenizer.ggml.tokens": 50304,  # the reader counts arrays: GPT-2's tokens padded to vocab_size
        "tokenizer.ggml.bos_token_id": 50256,
        "tokenizer.ggml.eos_token_id": 50256,
        "tokenizer.ggml.add_bos_token": False,  # prompts are read as sample.py reads them
    }
    assert {key: metadata.get(key) for key in expected} == expected
    assert metadata["starcoder2.attention.layer_norm_epsilon"] == pytest.approx(1e-5)
    assert not any("rope.scaling" in key for key in metadata)


@pytest.mark.parametrize("gguf_type,half", [("f16", torch.float16), ("bf16", torch.bfloat16)])
def test_half_files_hold_our_matrices_rounded_and_vectors_in_f32(tmp_path, gguf_type, half):
    reader = pytest.importorskip("transformers.integrations.gguf.reader")
    from gptkit.interop.hf_format import export_weights

    model = random_model(block_size=64)
    header = reader.GgufHeader.from_file(str(write(model, tmp_path / "model.gguf", gguf_type)))
    stored = {name: tensor[...] for name, tensor in reader.load_gguf_state_dict(header).items()}
    assert stored["blk.0.attn_norm.weight"].dtype == stored["blk.1.ffn_up.bias"].dtype == torch.float32
    assert stored["position_embd.weight"].dtype == torch.float32  # as llama.cpp's converter keeps them
    ours = export_weights("gpt2", asdict(model.config), model.state_dict())
    pairs = [
        ("token_embd.weight", "transformer.wte.weight"),
        ("blk.1.ffn_down.weight", "transformer.h.1.mlp.c_proj.weight"),
    ]
    for gguf_name, hf_name in pairs:  # GGUF keeps nn.Linear's (out, in); GPT-2's Conv1D is (in, out)
        expected = ours[hf_name] if gguf_name.startswith("token") else ours[hf_name].t()
        assert stored[gguf_name].dtype == half and torch.equal(stored[gguf_name], expected.to(half))


@pytest.mark.parametrize(
    "scaling,expected",
    [
        (dict(rope_scaling="linear", rope_scaling_factor=4.0), {"type": "linear", "factor": 4.0}),
        (
            dict(rope_scaling="yarn", rope_scaling_factor=4.0, rope_original_block_size=32, rope_yarn_beta_fast=16.0),
            {
                "type": "yarn",
                "factor": 4.0,
                "original_context_length": 32,
                "yarn_beta_fast": 16.0,
                "yarn_beta_slow": 1.0,
            },
        ),
    ],
)
def test_rope_scaling_goes_to_llama_cpp_keys(tmp_path, scaling, expected):
    """The keys llama.cpp's converter writes for the same scaling in a transformers config (the GPTConfig
    fields of RoPE scaling are given as a dict here, as a checkpoint holds them)."""
    model = random_model(block_size=128, pos_emb="rope", n_kv_head=2)
    metadata = read_metadata(write(model, tmp_path / "model.gguf", "q8_0", **scaling))
    prefix = "starcoder2.rope.scaling."
    assert {key.removeprefix(prefix): value for key, value in metadata.items() if key.startswith(prefix)} == expected


def refusal(model_config, tokenizer="gpt2", gguf_type="f16", path="model.gguf"):
    with pytest.raises(UserError) as error:
        check_gguf_export(model_config, get_tokenizer(tokenizer), gguf_type, path)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_what_gguf_cannot_hold_is_refused_saying_why_and_what_works(tmp_path):
    rope = asdict(GPTConfig(n_layer=1, n_head=4, n_embd=32, pos_emb="rope", n_kv_head=2))
    assert "Mixture of Experts" in refusal({**rope, "n_expert": 4}) and "trust_remote_code=True" in refusal(
        {**rope, "n_expert": 4}
    )
    assert "grouped-query" in refusal({**rope, "pos_emb": "learned"})
    assert "compute GeLU, not ReLU²" in refusal({**rope, "mlp_activation": "relu2"})
    assert "not checked here" in refusal({**rope, "norm": "rmsnorm"})  # Arcee
    rms_swiglu = {**rope, "n_embd": 48, "norm": "rmsnorm", "mlp_activation": "swiglu"}
    assert "llama and qwen3 without biases only" in refusal(rms_swiglu)
    assert "no architecture for this block" in refusal({**rms_swiglu, "bias": False, "logit_softcap": 15.0})
    assert "refuses byte-level tokenizers" in refusal(rope, tokenizer="bytes")
    message = refusal({**rope, "rope_scaling": "dynamic", "rope_scaling_factor": 2.0})
    assert "no GGUF for dynamic RoPE scaling" in message and "past 1024 tokens" in message
    assert refusal(rope, gguf_type="q4_0") == "--gguf_type must be one of f32, f16, bf16, q8_0, got 'q4_0'"
    assert "it is a folder" in refusal(rope, path=tmp_path)
    (tmp_path / "file").write_text("")
    assert "is not a writable folder" in refusal(rope, path=tmp_path / "file" / "model.gguf")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]  # nothing written


def test_without_the_gguf_package_the_gguf_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(gguf_export, "gguf", None)  # what the module's guarded import leaves when it fails
    with pytest.raises(UserError, match=r"^--gguf needs the gguf package \(llama.cpp's writer\): pip install gguf$"):
        write(random_model(block_size=64), tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", disk_full)
    path = tmp_path / "sub" / "model.gguf"
    with pytest.raises(UserError, match=f"^could not write the GGUF to {path}: No space left on device$"):
        write(random_model(block_size=64), path, "q8_0")
    assert list((tmp_path / "sub").iterdir()) == []
