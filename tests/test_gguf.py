"""`curate model import` on a tiny Llama GGUF file written here with the `gguf` package: no download."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

gguf = pytest.importorskip("gguf")

from attribution.model import load_causal_lm  # noqa: E402
from curate.cli import main  # noqa: E402
from curate.errors import InputError  # noqa: E402
from curate.lm.gguf import PROVENANCE_FILE, import_gguf  # noqa: E402

LAYERS, HIDDEN, HEADS, KV_HEADS, MLP = 2, 16, 4, 2, 32


def byte_vocabulary() -> tuple[list[str], list[str]]:
    """GPT-2's byte alphabet (every text encodes) plus two merged tokens, and special tokens first."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = list(bytes_to_unicode().values())
    return ["<|endoftext|>", *alphabet, "he", "ll"], ["h e", "l l"]


def permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's rotary layout for q and k, which the loader undoes (convert_hf_to_gguf.py, LlamaModel)."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_tiny_llama(path, reference) -> None:
    """The reference model's weights as a GGUF file, named and laid out as llama.cpp writes them."""
    tokens, merges = byte_vocabulary()
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(64)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(MLP)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (len(tokens) - 1))
    writer.add_token_merges(merges)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)

    state = {name: tensor.numpy() for name, tensor in reference.state_dict().items()}
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for layer in range(LAYERS):
        for hf_name, gguf_name in names.items():
            weight = state[f"model.layers.{layer}.{hf_name}.weight"]
            if gguf_name in ("attn_q", "attn_k"):
                weight = permute(weight, HEADS if gguf_name == "attn_q" else KV_HEADS)
            writer.add_tensor(f"blk.{layer}.{gguf_name}.weight", np.ascontiguousarray(weight))
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    vocabulary = len(byte_vocabulary()[0])
    config = LlamaConfig(vocab_size=vocabulary, hidden_size=HIDDEN, intermediate_size=MLP, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                         rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)
    reference = LlamaForCausalLM(config).eval()
    for parameter in reference.parameters():  # norms start at 1: make every weight matter
        parameter.data.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf"
    write_tiny_llama(path, reference)
    return path, reference


def test_import_reproduces_the_written_model(tiny, tmp_path):
    path, reference = tiny
    out = import_gguf(path, tmp_path / "model")
    model, tokenizer = load_causal_lm(out, max_length=64)
    assert model.config.num_hidden_layers == LAYERS and model.config.hidden_size == HIDDEN
    assert model.config.vocab_size == reference.config.vocab_size
    assert getattr(model.config, "quantization_config", None) is None
    ids = tokenizer("hello world", return_tensors="pt")["input_ids"]
    assert tokenizer.decode(ids[0], skip_special_tokens=True) == "hello world"
    with torch.no_grad():
        expected = reference(input_ids=ids).logits
        got = model(input_ids=ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)

    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    assert provenance["weight_types"] == {"F32": 2 + 9 * LAYERS + 1}
    assert provenance["architecture"] == "LlamaForCausalLM" and len(provenance["sha256"]) == 64
    assert provenance["package"] is None and "F32" in provenance["note"]


def test_cli_import_keeps_an_imported_model_and_refuses_a_missing_file(tiny, tmp_path, capsys):
    path, _ = tiny
    out = tmp_path / "model"
    assert main(["model", "import", str(path), "--out", str(out)]) == 0
    assert "LlamaForCausalLM" in capsys.readouterr().out
    weights = out / "model.safetensors"
    written = weights.stat().st_mtime_ns
    assert main(["model", "import", str(path), "--out", str(out)]) == 0
    assert weights.stat().st_mtime_ns == written  # same file, same sha256: not converted again
    assert main(["model", "import", str(tmp_path / "absent.gguf"), "--out", str(out)]) == 2
    assert "no GGUF file" in capsys.readouterr().err
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    assert main(["model", "import", str(path), "--out", str(tmp_path / "notes")]) == 2
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    with pytest.raises(InputError, match="not a readable GGUF"):
        (tmp_path / "bad.gguf").write_bytes(b"not a gguf file")
        import_gguf(tmp_path / "bad.gguf", tmp_path / "bad")


def test_cli_refuses_an_out_that_is_a_file_in_one_line(tiny, tmp_path, capsys):
    path, _ = tiny
    (tmp_path / "model").write_text("mine")
    assert main(["model", "import", str(path), "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'model'} is a file; --out needs a directory\n"
    assert (tmp_path / "model").read_text() == "mine"


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.999])
def test_cli_names_a_truncated_gguf_file_in_one_line(tiny, tmp_path, capsys, keep):
    path, _ = tiny
    data = path.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: int(len(data) * keep)])
    assert main(["model", "import", str(cut), "--out", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cut} is not a readable GGUF file: cut short or corrupt") and err.count("\n") == 1
    assert not (tmp_path / "model").exists()


def test_a_damaged_provenance_record_is_converted_again(tiny, tmp_path, capsys):
    path, _ = tiny
    out = tmp_path / "model"
    assert main(["model", "import", str(path), "--out", str(out)]) == 0
    (out / PROVENANCE_FILE).write_text('{"sha256": "cut sh')
    assert main(["model", "import", str(path), "--out", str(out)]) == 0
    assert json.loads((out / PROVENANCE_FILE).read_text())["architecture"] == "LlamaForCausalLM"
