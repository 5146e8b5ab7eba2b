import json
import math

import pytest
import torch
from datatrove.data import Document
from transformers import AutoModelForCausalLM, AutoTokenizer

from curate.corpus.io import write_documents
from curate.corpus.split import RULE, is_heldout, split_documents
from curate.lm.config import ModelConfig, TrainConfig
from curate.lm.shipped import training_fingerprint
from curate.lm.tokenizer import train_tokenizer
from curate.lm.train import lr_at, save, train_from_corpus, train_lm

TINY_MODEL = ModelConfig(n_layers=2, hidden=32, mlp=64, heads=2, max_len=64)


def tiny_config(**overrides) -> TrainConfig:
    values = dict(seq_len=32, batch_size=8, steps=40, lr=1e-2, warmup_steps=5, eval_every=20, vocab_size=300)
    return TrainConfig(**(values | overrides))


def test_tokenizer_splits_every_digit(tiny_texts):
    tokenizer = train_tokenizer(tiny_texts * 3 + ["12345 67890 2024"] * 50, vocab_size=400)
    pieces = tokenizer.tokenize("x = 12345 + 2024")
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("123452024")
    assert tokenizer.decode(tokenizer("(7 - 4) * 7 = 21")["input_ids"]) == "(7 - 4) * 7 = 21"


def test_learning_rate_warms_up_then_decays_to_floor():
    config = TrainConfig(lr=1.0, steps=100, warmup_steps=10, min_lr_ratio=0.1)
    rates = [lr_at(step, config) for step in range(100)]
    assert rates[0] < rates[9] == 1.0
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))
    assert math.isclose(lr_at(100, config), 0.1)


def test_heldout_split_is_stable_and_near_fraction():
    ids = [f"doc-{i}" for i in range(4000)]
    first = [is_heldout(i, 0.1, 0) for i in ids]
    assert first == [is_heldout(i, 0.1, 0) for i in ids]
    assert 0.08 < sum(first) / len(ids) < 0.12


def test_loss_falls_and_training_is_deterministic(tiny_texts):
    a = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, tiny_config(), progress=False)
    assert a.train_losses[-1] < 0.6 * a.train_losses[0]
    first_eval, last_eval = a.eval_losses[20], a.eval_losses[40]
    assert last_eval < first_eval
    b = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, tiny_config(), tokenizer=a.tokenizer, progress=False)
    assert a.train_losses == b.train_losses
    for p, q in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_saved_model_reloads_with_auto_classes(tmp_path, tiny_texts):
    config = tiny_config(steps=5, eval_every=5)
    result = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, config, progress=False)
    save(result, tmp_path / "model", TINY_MODEL, config)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "model")
    assert model.config.model_type == "llama" and model.config.hidden_act == "silu"
    ids = tokenizer("Step 1: add 3 and 4.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, result.model(ids).logits, atol=1e-6)
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert (tmp_path / "model" / "train_log.json").exists()


def test_train_from_corpus_records_what_the_model_was_made_from(tmp_path, tiny_texts, one_thread):
    docs = [Document(text=t, id=f"doc-{i}", metadata={}) for i, t in enumerate(tiny_texts)]
    write_documents(docs, tmp_path / "corpus")
    config = tiny_config(steps=2, eval_every=2, eval_fraction=0.1, seed=3)
    train_from_corpus(tmp_path / "corpus", tmp_path / "model", TINY_MODEL, config)
    data = json.loads((tmp_path / "model" / "train_log.json").read_text())["data"]
    train, heldout = split_documents(docs, 0.1, 3)  # the one split: what any retrain will reproduce
    assert data == {
        "corpus": str((tmp_path / "corpus").resolve()),
        "text_key": "text",
        "id_key": "id",
        "skip_bad_records": False,
        "heldout_split": {"rule": RULE, "fraction": 0.1, "seed": 3},
        "train_documents": len(train),
        "heldout_documents": len(heldout),
        "fingerprint": training_fingerprint(train, heldout, TINY_MODEL, config),
    }
    assert len(heldout) == sum(is_heldout(d.id, 0.1, 3) for d in docs) > 0
    assert (tmp_path / "model" / "loss.png").exists()


def test_a_step_that_cannot_compile_trains_eagerly_and_says_so(tiny_texts, monkeypatch, capsys):
    def no_compiler(function):
        def fails(*args):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return fails

    monkeypatch.setattr(torch, "compile", no_compiler)
    eager = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, tiny_config(steps=3), progress=False)
    tried = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, tiny_config(steps=3, compile=True),
                     tokenizer=eager.tokenizer, progress=False)
    assert capsys.readouterr().out.count("torch.compile failed (RuntimeError: no C++ compiler found); training eagerly") == 1
    assert tried.train_losses == eager.train_losses


@pytest.mark.slow
def test_a_compiled_step_trains_like_the_eager_one(tiny_texts):
    eager = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, tiny_config(steps=10), progress=False)
    compiled = train_lm(tiny_texts[:270], tiny_texts[270:], TINY_MODEL, tiny_config(steps=10, compile=True),
                        tokenizer=eager.tokenizer, progress=False)
    # fused kernels sum in another order: the same trajectory up to float32 rounding
    assert compiled.train_losses == pytest.approx(eager.train_losses, rel=1e-3)


def test_the_shipped_quickstart_model_is_the_one_the_quickstart_recipe_would_train(tmp_path):
    """A change to the synthetic corpus, the LM's defaults or the recipe's lm stage must rebuild it
    (`make quickstart-model`); otherwise the quickstart would copy a model of other data."""
    from attribution.options import options_from
    from curate.cli import build_parser
    from curate.lm.shipped import SHIPPED_MODEL, shipped_log
    from curate.recipe import Recipe, check_arguments
    from curate.world.corpus import generate_corpus

    recipe = Recipe.load("quickstart.toml")
    argvs = dict(zip([s.name for s in recipe.stages], check_arguments(recipe, tmp_path), strict=True))
    corpus_args = build_parser().parse_args(argvs["corpus"])
    args = build_parser().parse_args(argvs["lm"])
    model_config, config = options_from(ModelConfig, args), options_from(TrainConfig, args)
    train, heldout = split_documents(list(generate_corpus(corpus_args.n_docs, corpus_args.seed)),
                                     config.eval_fraction, config.seed)
    assert shipped_log()["data"]["fingerprint"] == training_fingerprint(train, heldout, model_config, config)
    model = AutoModelForCausalLM.from_pretrained(SHIPPED_MODEL)
    assert model.config.num_hidden_layers == model_config.n_layers and model.config.hidden_size == model_config.hidden


def test_training_the_shipped_models_request_copies_it_and_retrain_or_any_change_trains(
    tmp_path, tiny_texts, one_thread, monkeypatch
):
    from curate.lm import shipped, train

    docs = [Document(text=t, id=f"doc-{i}", metadata={}) for i, t in enumerate(tiny_texts)]
    write_documents(docs, tmp_path / "corpus")
    config = tiny_config(steps=2, eval_every=2, eval_fraction=0.1, seed=3)
    train_from_corpus(tmp_path / "corpus", tmp_path / "shipped", TINY_MODEL, config, reuse_shipped=False)
    monkeypatch.setattr(shipped, "SHIPPED_MODEL", tmp_path / "shipped")

    calls = []
    real_train = train.train_lm
    monkeypatch.setattr(train, "train_lm", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    log = train_from_corpus(tmp_path / "corpus", tmp_path / "copy", TINY_MODEL, config)
    assert not calls and "copied_from" in log["data"]
    assert (tmp_path / "copy" / "model.safetensors").read_bytes() == (tmp_path / "shipped" / "model.safetensors").read_bytes()
    assert json.loads((tmp_path / "copy" / "train_log.json").read_text())["data"]["corpus"] == str((tmp_path / "corpus").resolve())

    train_from_corpus(tmp_path / "corpus", tmp_path / "retrained", TINY_MODEL, config, reuse_shipped=False)
    train_from_corpus(tmp_path / "corpus", tmp_path / "other", TINY_MODEL, tiny_config(steps=3, eval_every=3, eval_fraction=0.1, seed=3))
    write_documents(docs[:-1], tmp_path / "fewer")
    train_from_corpus(tmp_path / "fewer", tmp_path / "fewer-model", TINY_MODEL, config)
    assert len(calls) == 3
    assert "copied_from" not in json.loads((tmp_path / "other" / "train_log.json").read_text())["data"]
