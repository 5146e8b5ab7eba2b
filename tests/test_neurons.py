"""The neuron-activation lens on tiny random models with planted neurons (Llama-style SwiGLU and GPT-2)."""

import json

import polars as pl
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from curate.neurons import mechanics as lens
from curate.probes.sets import Probe

ADDITION = ("+", "plus", "add", "sum", "total")
DECOY = ("river", "stone", "cloud", "garden", "window")
FILLER = ("the", "a", "quiet", "day", "town", "old", "green", "walk", "house", "road", "light", "bird")


@pytest.fixture(scope="module")
def tokenizer():
    from curate.lm.tokenizer import train_tokenizer

    words = ADDITION + DECOY + FILLER
    texts = [" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) + f" {i}." for i in range(200)]
    return train_tokenizer(texts, vocab_size=400)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def token_ids(tokenizer, words) -> list[int]:
    """The vocabulary entries that spell each word (with or without the leading space marker)."""
    spelled = lens.token_words(tokenizer)
    return [i for i, w in enumerate(spelled) if w in words]


def llama(tokenizer, seed: int = 0) -> LlamaForCausalLM:
    # Wide enough that a sum of ten random unembedding rows stands out from every other row's projection.
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=512,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    # A non-trivial final norm weight, so the projection test checks that it is applied.
    with torch.no_grad():
        model.model.norm.weight.copy_(torch.rand(512) + 0.5)
    return model


def gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=48)
    return GPT2LMHeadModel(config).eval()


def plant(model, tokenizer, layer: int, neuron: int, words) -> None:
    """Point a neuron's value vector at the unembedding rows of `words` (undoing the final norm's scale), so
    its vocabulary projection tops those tokens."""
    unembedding = model.get_output_embeddings().weight.detach()
    direction = unembedding[token_ids(tokenizer, words)].sum(dim=0) / lens.final_norm_weight(model)
    with torch.no_grad():
        model.model.layers[layer].mlp.down_proj.weight[:, neuron] = 3 * direction


def remove_concept_directions(model, tokenizer) -> None:
    """Make every value vector orthogonal to what raises concept tokens' logits: a model with no concept
    neurons at all (random value vectors do hit concept tokens by chance in a 346-token vocabulary)."""
    concept_words = {w for words in lens.CONCEPTS.values() for w in words}
    rows = model.get_output_embeddings().weight.detach()[token_ids(tokenizer, concept_words)]
    basis = torch.linalg.qr((rows * lens.final_norm_weight(model)).T).Q  # (hidden, n_concept_tokens)
    with torch.no_grad():
        for layer in model.model.layers:
            weight = layer.mlp.down_proj.weight  # (hidden, neurons): value vectors are columns
            weight -= basis @ (basis.T @ weight)


def planted_model(tokenizer):
    model = llama(tokenizer)
    remove_concept_directions(model, tokenizer)
    plant(model, tokenizer, layer=1, neuron=7, words=ADDITION)
    plant(model, tokenizer, layer=0, neuron=3, words=DECOY)
    return model


def test_word_matching_strips_the_space_marker(tokenizer):
    assert {"+", "plus", "add", "sum", "total"} <= set(lens.token_words(tokenizer))
    assert any(tokenizer.convert_ids_to_tokens(i).startswith("Ġ") for i in token_ids(tokenizer, ["plus"]))


def test_planted_concept_neuron_is_found_and_labelled_and_no_other_neuron_is(tokenizer):
    model = planted_model(tokenizer)
    layers = lens.mlp_layers(model)
    assert [layer.name for layer in layers] == [
        "model.layers.0.mlp.down_proj",
        "model.layers.1.mlp.down_proj",
    ]
    top_ids = lens.top_tokens(model, layers, k=10)
    words = lens.token_words(tokenizer)
    addition = token_ids(tokenizer, ADDITION)
    assert set(top_ids[1][7, : len(addition)].tolist()) == set(addition)

    labels = lens.label_neurons(top_ids, words, min_overlap=3)
    assert labels.select("layer", "neuron", "concept").rows() == [(1, 7, "addition")]
    assert labels["overlap"][0] == len(ADDITION)  # distinct words: "plus" and " plus" count once
    # The decoy neuron tops its own words, none in any concept list, so it stays unlabelled.
    decoy = token_ids(tokenizer, DECOY)
    assert set(top_ids[0][3, : len(decoy)].tolist()) == set(decoy)
    # With the vocabulary shuffled, the planted neuron's top tokens are no longer addition words.
    assert lens.chance_counts(top_ids, words)["addition"] < 1
    assert {1: [7]} == {k: v.tolist() for k, v in lens.concept_neurons(labels, "addition").items()}


def test_projection_equals_brute_force():
    for model in (
        gpt2(),
        LlamaForCausalLM(
            LlamaConfig(
                vocab_size=101,
                hidden_size=32,
                intermediate_size=40,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=2,
                tie_word_embeddings=False,
            )
        ).eval(),
    ):
        with torch.no_grad():
            lens.final_norm_weight(model).copy_(torch.rand_like(lens.final_norm_weight(model)) + 0.5)
        layers = lens.mlp_layers(model)
        top_ids = lens.top_tokens(model, layers, k=5, chunk=7)
        unembedding = model.get_output_embeddings().weight.detach()
        for layer in layers:
            n = layer.n_neurons
            # v_i is what the down projection writes for a one-hot activation (its bias removed).
            with torch.no_grad():
                written = layer.down(torch.eye(n)) - layer.down(torch.zeros(1, n))
            torch.testing.assert_close(layer.values, written)
            for i in range(n):
                logits = torch.stack([u @ (written[i] * lens.final_norm_weight(model)) for u in unembedding])
                assert top_ids[layer.layer][i].tolist() == logits.topk(5).indices.tolist()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_zeroing_removes_exactly_the_neurons_contribution_and_hooks_do_not_accumulate(tokenizer, arch):
    model = llama(tokenizer) if arch == "llama" else gpt2()
    layers = lens.mlp_layers(model)
    ids = torch.randint(3, 90, (2, 9), generator=torch.Generator().manual_seed(0))
    layer, neuron = layers[1], 5
    outputs = []
    handle = layer.down.register_forward_hook(lambda module, args, output: outputs.append(output.detach()))
    with torch.no_grad(), lens.recording(layers) as activations:
        clean = model(input_ids=ids).logits
        m = activations[1][..., neuron].clone()
        with lens.ablating(layers, {1: torch.tensor([neuron])}):
            zeroed = model(input_ids=ids).logits
    handle.remove()
    torch.testing.assert_close(outputs[0] - outputs[1], m[..., None] * layer.values[neuron])
    assert not torch.allclose(clean, zeroed)

    noise = {0: torch.tensor([0.7, -1.3]), 1: torch.tensor([2.0, 0.5])}
    chosen = {0: torch.tensor([1, 4]), 1: torch.tensor([0, 5])}
    with torch.no_grad():
        with lens.ablating(layers, chosen, noise):
            first, second = model(input_ids=ids).logits, model(input_ids=ids).logits
        after = model(input_ids=ids).logits
    torch.testing.assert_close(first, second)  # the same corruption on every pass
    assert not torch.allclose(first, clean)
    torch.testing.assert_close(after, clean)  # and none once the block is left


def test_contributions_are_mean_abs_activation_times_value_norm(tokenizer):
    model = planted_model(tokenizer)
    layers = lens.mlp_layers(model)
    texts = ["plus add sum the quiet town", "a green bird"]
    sets = {"one": {1: torch.tensor([7])}, "two": {0: torch.tensor([2]), 1: torch.tensor([7])}}
    result = lens.contributions(model, tokenizer, texts, layers, sets, batch_size=1)
    for t, text in enumerate(texts):
        ids = torch.tensor(
            [[tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]]
        )
        with torch.no_grad(), lens.recording(layers) as acts:
            model(input_ids=ids)
        norm = {k: layer.values.norm(dim=1) for k, layer in enumerate(layers)}
        one = (acts[1][0, 1:, 7].abs() * norm[1][7]).mean()
        two = ((acts[0][0, 1:, 2].abs() * norm[0][2]).mean() + one) / 2
        assert result["one"][t] == pytest.approx(one.item(), rel=1e-5)
        assert result["two"][t] == pytest.approx(two.item(), rel=1e-5)


def test_rankings_agreement_and_f1():
    frame = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(6)],
            "a": [6.0, 5, 4, 3, 2, 1],
            "b": [1.0, 5, 6, 3, 2, 4],
            "truth": [True, True, False, False, False, False],
        }
    )
    result = lens.compare_rankings(frame, "a", "b", "truth")
    assert result["k"] == 2
    assert result["f1_a"] == 1.0 and result["f1_b"] == 0.5  # b's top 2: d2 (wrong), d1 (right)
    assert result["top_k_overlap"] == 0.5
    assert result["f1_random_expected"] == pytest.approx(2 * 2 * 2 / (6 * 4))


def test_ablation_compares_concept_and_random_neurons_of_the_same_layers(tokenizer):
    model = planted_model(tokenizer)
    layers = lens.mlp_layers(model)
    concept = {1: torch.tensor([7, 8, 9])}
    assert not set(lens.random_neurons(layers, concept, 0)[1].tolist()) & {7, 8, 9}
    probes = [
        Probe("r0", "arithmetic", "reasoning", "the sum of the", " old town plus a bird", "x"),
        Probe("f0", "factual", "factual", "a quiet", " green house by the road", "x"),
    ]
    results = lens.run_ablation(
        model, tokenizer, probes, layers, concept, lens.AblationArguments("zero", 1.0, [0, 1], accuracy=False)
    )
    counts = dict(results.group_by("arm").len().iter_rows())
    assert counts == {"concept": 2, "random": 4}  # zeroing is deterministic: one concept run, per-seed random
    assert results["delta_loss"].is_finite().all() and (results["delta_loss"] != 0).any()
    noisy = lens.run_ablation(
        model,
        tokenizer,
        probes,
        layers,
        concept,
        lens.AblationArguments("noise", 1.0, [0, 1], accuracy=True, max_new_tokens=3),
    )
    assert dict(noisy.group_by("arm").len().iter_rows()) == {"concept": 4, "random": 4}
    assert noisy["accuracy"].is_between(0, 1).all()


def test_neurons_command_writes_tables_and_plots(tokenizer, tmp_path):
    from datatrove.data import Document

    from curate.cli import main
    from curate.corpus.io import write_documents
    from curate.paths import RunDir
    from curate.probes.sets import write_probes

    run = RunDir(tmp_path)
    model = planted_model(tokenizer)
    model.save_pretrained(run.model)
    tokenizer.save_pretrained(run.model)
    write_probes(
        [
            Probe("p0", "arithmetic", "reasoning", "the sum of", " old town plus a bird", "x"),
            Probe("p1", "arithmetic", "reasoning", "add the", " total of the road", "x"),
            Probe("f0", "factual", "factual", "a quiet", " green house by the road", "x"),
        ],
        run.probes,
    )
    docs = [Document(f"plus add sum {i} total", f"p{i}", metadata={"procedural": True}) for i in range(3)]
    docs += [
        Document(f"the quiet town {i} by the river", f"n{i}", metadata={"procedural": False})
        for i in range(9)
    ]
    write_documents(docs, run.corpus)
    # Scores in the `curate influence score` format: EK-FAC ranks documents in reverse order of their position.
    run.scores.mkdir()
    ids = [d.id for d in docs]
    pl.DataFrame({"doc_id": ids, "doc_grad_norm": [1.0] * 12, "p0": range(12), "p1": range(12)}).with_columns(
        pl.col("p0", "p1").cast(pl.Float32)
    ).write_parquet(run.scores / "part-00000.parquet")
    probes_meta = [{"id": p, "nats": 2.0} for p in ("p0", "p1")]
    (run.scores / "probes.json").write_text(json.dumps({"probes": probes_meta}))
    assert (
        main(
            [
                "study",
                "neurons",
                "--run-dir",
                str(tmp_path),
                "--top-tokens",
                "10",
                "--seeds",
                "0",
                "1",
                "--no-accuracy",
            ]
        )
        == 0
    )
    out = tmp_path / "neurons"
    for name in (
        "neurons.csv",
        "concept_counts.csv",
        "concepts_by_layer.png",
        "probe_activation.csv",
        "document_scores.parquet",
        "comparison.csv",
        "ablation.csv",
        "ablation_summary.csv",
        "ablation.png",
        "summary.md",
    ):
        assert (out / name).exists(), name
    labels = pl.read_csv(out / "neurons.csv")
    assert labels.select("layer", "neuron", "concept").rows() == [(1, 7, "addition")]
    comparison = pl.read_csv(out / "comparison.csv")
    assert comparison["documents"][0] == 12 and comparison["k"][0] == 3
