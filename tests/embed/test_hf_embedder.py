"""HFEmbedder: agrees with sentence-transformers, truncates by real tokens, pools and batches correctly."""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from era_exp.data.schema import Query
from era_exp.embed.hf import (
    HFEmbedder,
    declared_shape,
    padded_widths,
    resolve_batching,
    resolve_cache_dtype,
    resolve_device,
    resolve_dtype,
    truncation_length,
    weights_fingerprint,
)
from era_exp.embed.models import resolve_model
from helpers.tiny_models import make_tiny_bert

LONG_TEXT = (
    "Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex. "
    "Complex is better than complicated. Flat is better than nested. Sparse is better than dense. "
    "Readability counts. Special cases aren't special enough to break the rules. "
) * 12


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def real_texts(root: Path, per_task: int = 6) -> list[str]:
    """Documents and queries of several mair-lite tasks: prose, German law, code, maths, JSON."""
    texts: list[str] = []
    for task in ("SciFact", "LegalQuAD", "MBPP", "Competition-Math", "HuggingfaceAPI", "TAT-QA"):
        with open(root / task / "docs.jsonl", encoding="utf-8") as handle:
            docs = [json.loads(line)["doc"] for line in handle]
        with open(root / task / "queries.jsonl", encoding="utf-8") as handle:
            queries = [json.loads(line) for line in handle]
        rng = random.Random(task)
        texts += rng.sample(docs, per_task)
        texts += [f"{q['instruction']}\n{q['query']}" for q in rng.sample(queries, 2)]
    return texts


@pytest.mark.slow
@pytest.mark.mair_lite
def test_matches_sentence_transformers(minilm_embedder: HFEmbedder, mair_lite_root: Path) -> None:
    from sentence_transformers import SentenceTransformer

    texts = [*real_texts(mair_lite_root), LONG_TEXT, "", "short"]
    assert len(texts) >= 50
    ours = minilm_embedder.encode(texts)
    _, lengths = minilm_embedder.token_lengths(texts)
    assert lengths.max() == minilm_embedder.max_length  # long texts are in the mix
    reference = SentenceTransformer(resolve_model("bundled:minilm"), device="cpu")
    reference.max_seq_length = minilm_embedder.max_length
    theirs = reference.encode(texts, batch_size=16, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    assert cosine(ours, theirs).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_truncates_at_real_token_count(minilm_embedder: HFEmbedder) -> None:
    tokenizer = minilm_embedder.tokenizer
    encoding = tokenizer(
        LONG_TEXT, truncation=True, max_length=minilm_embedder.max_length, return_offsets_mapping=True
    )
    assert len(encoding["input_ids"]) == minilm_embedder.max_length
    last_kept = max(end for start, end in encoding["offset_mapping"] if end > start)
    prefix = LONG_TEXT[:last_kept]
    assert len(tokenizer(prefix)["input_ids"]) == minilm_embedder.max_length
    full, cut = minilm_embedder.encode([LONG_TEXT, prefix])
    assert cosine(full, cut) > 0.99999


def test_encode_keeps_input_order_and_ignores_batching(tiny_model_dir: Path) -> None:
    texts = [" ".join(["word"] * n) for n in (3, 40, 1, 17, 60, 2, 33, 8)] + ["", "x y"]
    batched = HFEmbedder("tiny", str(tiny_model_dir), batch_size=3, max_batch_tokens=64, device="cpu")
    single = HFEmbedder("tiny", str(tiny_model_dir), batch_size=1, device="cpu")
    got = batched.encode(texts)
    want = np.stack([single.encode([t])[0] for t in texts])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert batched.encode([]).shape == (0, 32)


@pytest.mark.parametrize(("batching", "bucket_tokens"), [("uniform", 1), ("uniform", 16), ("padded", 16)])
def test_batches_respect_text_and_token_caps(tiny_model_dir: Path, batching: str, bucket_tokens: int) -> None:
    embedder = HFEmbedder(
        "tiny",
        str(tiny_model_dir),
        batch_size=4,
        max_batch_tokens=100,
        max_length=64,
        device="cpu",
        batching=batching,
        bucket_tokens=bucket_tokens,
    )
    lengths = np.array([5, 64, 30, 30, 7, 2, 30, 60, 1, 3, 30, 30, 30, 2, 32, 17, 32])
    batches = list(embedder._batches(lengths))
    assert sorted(np.concatenate([b for b, _ in batches]).tolist()) == list(range(len(lengths)))
    for batch, width in batches:
        assert len(batch) <= 4 and lengths[batch].max() <= width
        assert len(batch) == 1 or len(batch) * width <= 100
    assert [w for _, w in batches] == sorted((w for _, w in batches), reverse=True)
    if batching == "padded":
        assert all(w == lengths[b].max() for b, w in batches), "padded to the batch's longest text"
        assert not all(len(set(lengths[b])) == 1 for b, _ in batches), "padded batches mix lengths"
        return
    widths, full = padded_widths(lengths, bucket_tokens, embedder.max_length)
    for batch, width in batches:
        assert set(widths[batch]) == {width}, "a text's width follows from its own length"
        assert len(set(full[batch])) == 1, "texts that fill their width never share a batch with padded ones"
    if bucket_tokens == 1:
        assert all(len(set(lengths[b])) == 1 for b, _ in batches), "one token length per batch"
        assert [len(b) for b, w in batches if w == 30] == [3, 3], "a length's texts fill its batches"
    else:
        assert widths.tolist() == [16, 64, 32, 32, 16, 16, 32, 64, 16, 16, 32, 32, 32, 16, 32, 32, 32]
        assert sorted(len(b) for b, w in batches if w == 32) == [1, 2, 3, 3], "17, 30s padded; 32s full"


def test_padded_widths_round_up_to_the_bucket_within_max_length() -> None:
    lengths = np.array([1, 15, 16, 17, 250, 255, 256])
    widths, full = padded_widths(lengths, 16, 256)
    assert widths.tolist() == [16, 16, 16, 32, 256, 256, 256]
    assert full.tolist() == [False, False, True, False, False, False, True]
    assert padded_widths(lengths, 1, 256)[0].tolist() == lengths.tolist()


@pytest.mark.mair_lite
def test_a_vector_depends_on_its_text_alone(minilm_embedder: HFEmbedder, mair_lite_root: Path) -> None:
    """Encoded with any companions, or alone, a real text gets the same bits: a cache filled in any
    order holds the same vectors, so a result never depends on what was encoded before it."""
    texts = [*real_texts(mair_lite_root), LONG_TEXT, "short"]
    assert minilm_embedder.batching == "uniform" and minilm_embedder.bucket_tokens == 16
    together = minilm_embedder.encode(texts)
    picked = np.random.default_rng(0).permutation(len(texts))[:30]
    np.testing.assert_array_equal(minilm_embedder.encode([texts[i] for i in picked]), together[picked])
    alone = np.stack([minilm_embedder.encode([texts[i]])[0] for i in picked[:12]])
    np.testing.assert_array_equal(alone, together[picked[:12]])


@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_pooling_with_padding_matches_unpadded(tiny_model_dir: Path, pooling: str) -> None:
    embedder = HFEmbedder(
        "tiny", str(tiny_model_dir), pooling=pooling, batch_size=8, device="cpu", batching="padded"
    )
    texts = ["a b c d e f g h i j k l", "short one", "x", "a medium length sentence here"]
    got = embedder.encode(texts)
    model, tokenizer = embedder.model, embedder.tokenizer
    for text, vector in zip(texts, got, strict=True):
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.inference_mode():
            hidden = model(input_ids=ids).last_hidden_state[0]
        ref = {"mean": hidden.mean(0), "cls": hidden[0], "last": hidden[-1]}[pooling]
        ref = torch.nn.functional.normalize(ref, dim=0).numpy()
        np.testing.assert_allclose(vector, ref, atol=1e-5)


@pytest.mark.parametrize("left", [False, True])
def test_pool_picks_real_tokens_for_either_padding_side(tiny_model_dir: Path, left: bool) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    lengths = [4, 2, 3]
    width = max(lengths)
    mask = torch.zeros(3, width, dtype=torch.long)
    hidden = torch.randn(3, width, 5)
    for row, n in enumerate(lengths):
        real_span = slice(width - n, width) if left else slice(0, n)
        mask[row, real_span] = 1
    real = [hidden[row][mask[row].bool()] for row in range(3)]
    expected = {
        "last": torch.stack([r[-1] for r in real]),
        "cls": torch.stack([r[0] for r in real]),
        "mean": torch.stack([r.mean(0) for r in real]),
    }
    for pooling, want in expected.items():
        embedder.pooling = pooling
        torch.testing.assert_close(embedder._pool(hidden, mask), want)


def test_left_padding_tokenizer_pads_on_the_left(tmp_path: Path) -> None:
    folder = make_tiny_bert(tmp_path / "left", padding_side="left")
    embedder = HFEmbedder("tiny-left", str(folder), pooling="last", device="cpu")
    ids, mask = embedder._pad([[101, 7, 102], [101, 102]])
    assert mask is not None and mask[1].tolist() == [0, 1, 1]
    assert ids[1, 1:].tolist() == [101, 102]


def test_queries_get_template_and_docs_stay_bare(tiny_model_dir: Path) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), query_template="qwen", device="cpu")
    queries = [Query("1", "Find a statute.", "theft", {}), Query("2", "", "fraud", {})]
    assert embedder.format_queries(queries) == [
        "Instruct: Find a statute.\nQuery: theft",
        "Instruct: \nQuery: fraud",
    ]
    assert embedder.format_docs(("doc one", "doc two")) == ["doc one", "doc two"]


def test_identity_is_stable_and_tracks_what_changes_vectors(tiny_model_dir: Path, tmp_path: Path) -> None:
    def identity(folder: Path = tiny_model_dir, **kwargs: object) -> str:
        return HFEmbedder("tiny", str(folder), device="cpu", **kwargs).identity

    base = identity()
    assert re.fullmatch(r"tiny-[0-9a-f]{12}", base)
    assert identity() == base
    assert identity(query_template="qwen", batch_size=3) == base  # the cache keys on formatted text
    assert identity(pooling="cls") != base
    assert identity(max_length=64) != base
    assert identity(normalize=False) != base
    assert identity(dtype="bfloat16") != base
    assert identity(make_tiny_bert(tmp_path / "other", seed=1)) != base


@pytest.mark.parametrize("model", ["bundled:minilm", "bundled:mpnet"])
def test_the_shape_read_from_the_files_is_what_transformers_loads(model: str) -> None:
    # The cache identity is made from the files without importing transformers; the library must agree.
    from transformers import AutoConfig, AutoTokenizer

    embedder = HFEmbedder("m", model, device="cpu")
    path = embedder._path
    assert embedder.dim == AutoConfig.from_pretrained(path).hidden_size
    assert embedder.max_length == truncation_length(256, AutoTokenizer.from_pretrained(path).model_max_length)
    assert embedder._tokenizer is None, "a run served from the cache never loads the tokenizer"


def test_a_model_whose_files_do_not_state_its_length_is_read_through_transformers(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "unstated"
    shutil.copytree(tiny_model_dir, folder)
    settings_path = folder / "tokenizer_config.json"
    settings = json.loads(settings_path.read_text())
    del settings["model_max_length"]
    settings_path.write_text(json.dumps(settings))
    assert declared_shape(str(folder)) is None
    embedder = HFEmbedder("tiny", str(folder), device="cpu", max_length=600)
    assert embedder._tokenizer is not None and embedder.max_length == 600  # no limit stated: none applies
    stated = HFEmbedder("tiny", str(tiny_model_dir), device="cpu", max_length=600)
    assert stated._tokenizer is None and stated.max_length == 512


def test_a_tokenizer_that_truncates_otherwise_than_its_identity_says_is_refused(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "changed"
    shutil.copytree(tiny_model_dir, folder)
    embedder = HFEmbedder("tiny", str(folder), device="cpu", max_length=256)
    settings_path = folder / "tokenizer_config.json"
    settings = json.loads(settings_path.read_text())
    settings["model_max_length"] = 64  # the files change under the embedder before it tokenises
    settings_path.write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="truncates at 64 tokens"):
        embedder.encode(["a text"])


def test_weights_fingerprint_needs_a_config(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        weights_fingerprint(tmp_path)


def test_max_length_is_capped_by_the_tokenizer(tiny_model_dir: Path) -> None:
    assert HFEmbedder("tiny", str(tiny_model_dir), max_length=100_000, device="cpu").max_length == 512


def test_bad_settings_are_rejected(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="pooling"):
        HFEmbedder("tiny", str(tiny_model_dir), pooling="max", device="cpu")
    with pytest.raises(ValueError, match="query template"):
        HFEmbedder("tiny", str(tiny_model_dir), query_template="bge", device="cpu")


def test_missing_hub_model_fails_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="era-exp-tests/no-such-model"):
        HFEmbedder("ghost", "era-exp-tests/no-such-model", device="cpu")


def test_dtype_and_device_resolution() -> None:
    cpu = torch.device("cpu")
    assert resolve_device("cpu") == cpu
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="float16"):
        resolve_dtype("int8", cpu)


def test_from_loaded_wraps_a_model_in_memory(tiny_model_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    loaded = HFEmbedder.from_loaded(
        "tiny", AutoModel.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir)
    )
    from_disk = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    texts = ["one text", "another, longer text"]
    np.testing.assert_allclose(loaded.encode(texts), from_disk.encode(texts), atol=1e-6)
    assert loaded.dim == 32 and re.fullmatch(r"tiny-[0-9a-f]{12}", loaded.identity)


def test_float32_encoding_ignores_a_lowered_matmul_precision(tiny_model_dir: Path) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), dtype="float32", device="cpu")
    texts = ["precision matters", "for cached vectors"]
    exact = embedder.encode(texts)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        np.testing.assert_array_equal(embedder.encode(texts), exact)
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(previous)


def test_cpu_threads_are_capped_to_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from era_exp.embed import hf

    threads = torch.get_num_threads()
    monkeypatch.setattr(hf, "usable_cpus", lambda: 1)
    try:
        torch.set_num_threads(2)
        hf.fit_cpu_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_default_batch_budget_keeps_cpu_work_per_op_steady() -> None:
    from era_exp.embed.hf import default_batch_tokens

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_batch_tokens(64, cpu, 768) == 2048
    assert default_batch_tokens(64, cpu, 384) == 4 * default_batch_tokens(64, cpu, 768)
    assert default_batch_tokens(64, cpu, 32) == 16384
    assert default_batch_tokens(16, cuda, 1024) == 16 * 512


@pytest.mark.parametrize("batching", ["uniform", "padded"])
def test_pipelined_cpu_encode_is_bit_identical_to_a_plain_loop(tiny_model_dir: Path, batching: str) -> None:
    """The tokenising thread and the one copy back change nothing: same batches, same bits."""
    texts = [" ".join(["word"] * n) + f" {n}" for n in (3, 40, 1, 17, 60, 2, 33, 8, 17, 5, 90, 12)]
    embedder = HFEmbedder(
        "tiny", str(tiny_model_dir), batch_size=3, max_batch_tokens=96, device="cpu", batching=batching
    )
    want = np.empty((len(texts), embedder.dim), dtype=np.float32)
    ids, lengths = embedder.token_lengths(texts)
    with torch.inference_mode():
        for batch, width in embedder._batches(lengths):
            input_ids, mask = embedder._pad([ids[i] for i in batch], width)
            hidden = embedder.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            want[batch] = torch.nn.functional.normalize(embedder._pool(hidden, mask), dim=1).numpy()
    np.testing.assert_array_equal(embedder.encode(texts), want)


def test_cuda_windows_start_small_and_cover_every_text(tiny_model_dir: Path) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), batch_size=2, device="cpu")
    texts = ["x" * n for n in range(100)]
    assert [w.tolist() for w in embedder._windows(texts)] == [list(range(100))]  # CPU: one window
    embedder.device = torch.device("cuda")  # only the window plan is exercised, nothing runs on it
    windows = list(embedder._windows(texts))
    assert [len(w) for w in windows] == [4, 32, 32, 32]
    flat = np.concatenate(windows)
    assert flat.tolist() == list(range(99, -1, -1))  # longest (by characters) first, each once


def test_background_iteration_passes_errors_and_stops_early() -> None:
    from era_exp.embed.hf import background

    def failing():
        yield 1
        raise RuntimeError("tokenizer broke")

    with pytest.raises(RuntimeError, match="tokenizer broke"):
        list(background(failing()))
    endless = background(iter(range(10**9)), ahead=2)
    assert next(endless) == 0
    endless.close()  # joins the thread instead of running on


@pytest.mark.parametrize(
    ("setting", "resolve", "on_cpu", "on_cuda"),
    [
        ("cache_dtype", resolve_cache_dtype, "float32", "float16"),
        ("batching", resolve_batching, "uniform", "padded"),
    ],
)
def test_device_defaults_and_identity(
    tiny_model_dir: Path, setting: str, resolve: Callable[[str, torch.device], str], on_cpu: str, on_cuda: str
) -> None:
    """``auto`` resolves by device; the CPU default names the same cache as spelling it out, and the
    GPU default, which gives other bits, another one."""
    assert resolve("auto", torch.device("cpu")) == on_cpu
    assert resolve("auto", torch.device("cuda")) == on_cuda
    with pytest.raises(ValueError, match=f"unknown {setting} 'bogus'"):
        resolve("bogus", torch.device("cpu"))
    plain = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    spelt = HFEmbedder("tiny", str(tiny_model_dir), device="cpu", **{setting: on_cpu})
    other = HFEmbedder("tiny", str(tiny_model_dir), device="cpu", **{setting: on_cuda})
    assert getattr(plain, setting) == on_cpu and plain.identity == spelt.identity != other.identity


def test_the_bucket_width_is_part_of_a_uniform_cache_identity(tiny_model_dir: Path) -> None:
    """Other widths pad texts differently, so other bits: each width names its own cache; padded
    batches, which do not bucket, keep one identity whatever the width."""
    build = partial(HFEmbedder, "tiny", str(tiny_model_dir), device="cpu")
    assert len({build(bucket_tokens=b).identity for b in (1, 8, 16)}) == 3
    assert build(batching="padded", bucket_tokens=8).identity == build(batching="padded").identity
    with pytest.raises(ValueError, match="bucket_tokens must be >= 1"):
        build(bucket_tokens=0)


def test_an_embedder_moves_to_another_device_of_its_kind_only(tiny_model_dir: Path) -> None:
    plain = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    moved = plain.on_device("cpu")
    assert moved.identity == plain.identity and moved._model is None
    with pytest.raises(ValueError, match="cannot move"):
        plain.on_device("cuda:0")


def _tricky_long_texts() -> list[str]:
    """Long texts whose first tokens a careless cut would change: accents, CJK, punctuation against the
    cut, control characters, tabs and newlines, runs of spaces, words too long for WordPiece, one word
    without any space, and texts so dense in tokens that a prefix cannot fill max_length."""
    rng = random.Random(7)
    pieces = ["café", "naïve", "東京都", "x=f(y);", "a.b,c", "\t", "\n\n", "   ", "\x07", "İstanbul", "ﬁne"]
    texts = [
        " ".join(rng.choice(pieces) + rng.choice(["", "word", "?!"]) for _ in range(n)) for n in (400, 900)
    ]
    texts += ["token" * 400, "supercalifragilistic" * 30 + " " + "end " * 300, "!" * 3000]
    texts += [" ".join(["Ω"] * 2000), "a " * 1500, LONG_TEXT, LONG_TEXT.replace(" ", "  \u00a0")]
    texts += [" ".join(["y" * 120] * 40)]  # one [UNK] per 121 characters: the prefix falls short
    return texts


def test_long_texts_tokenised_from_a_prefix_get_exactly_the_whole_texts_tokens(
    tiny_model_dir: Path, mair_lite_root: Path
) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), max_length=32, device="cpu")
    assert embedder._prefix_chars == 8 * 32  # a BERT tokenizer: prefixes ending at a space are exact
    texts = [*real_texts(mair_lite_root), *_tricky_long_texts(), "", "short"]
    assert sum(len(t) > embedder._prefix_chars for t in texts) > 20
    ids, lengths = embedder.token_lengths(texts)
    whole = embedder._tokenize(texts)
    assert ids == whole and lengths.tolist() == [len(x) for x in whole]
    vectors = embedder.encode(texts)
    embedder._prefix_chars = None  # tokenise every text whole
    np.testing.assert_array_equal(vectors, embedder.encode(texts))
