"""Sentence embeddings from a Hugging Face encoder, batched by real token counts.

Texts are tokenized (truncated at ``max_length`` real tokens), sorted by length, and grouped into
batches capped both in texts and in padded tokens, so batches carry almost no padding and long texts
get smaller batches. A background thread tokenises and pads ahead of the model; on CUDA it works
window by window (texts pre-sorted by characters, each window sorted by tokens) so the GPU starts
at once, batches go through pinned memory with non-blocking copies, pooling and normalisation stay
on the device and each call copies back to the host once. On CPU the whole input is one window, so
batches are exactly those of a global sort. Results are returned in input order as L2-normalised
float32 rows.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from era_exp.data.schema import Query
from era_exp.embed.cache import STORAGE_DTYPES
from era_exp.embed.models import resolve_model
from era_exp.embed.progress import quiet
from era_exp.embed.templates import TEMPLATES, format_query

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

POOLINGS = ("mean", "cls", "last")
_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_TOKENIZER_FILES = re.compile(
    r"^(config\.json|tokenizer.*|special_tokens_map\.json|added_tokens\.json|vocab\..*|merges\.txt"
    r"|.*\.model|.*\.index\.json)$"
)
CPU_BATCH_TOKENS_AT_768 = 2048
CPU_MAX_BATCH_TOKENS = 16384
_SAMPLE_BLOCKS = 32
_BLOCK = 1 << 16
_EDGE = 1 << 20
# Under uniform batching, texts are padded to a multiple of this many tokens (padded_widths).
DEFAULT_BUCKET_TOKENS = 16
_AHEAD = 4  # padded batches the tokenising thread keeps ready
_WINDOW_BATCHES = 16  # on CUDA, texts tokenised and length-sorted together, in batches' worth
_TOKENIZER_SETTINGS = ("_prefix_chars", "pad_id", "left_padding")  # set by HFEmbedder._use_tokenizer
_PREFIX_CHARS_PER_TOKEN = 8  # a text longer than this per token of max_length is tokenised from a prefix


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, lowered by a cgroup CPU quota if any."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def fit_cpu_threads() -> None:
    """Lower torch's thread count to the usable CPUs.

    torch counts the host's cores; threads beyond the CPUs a container or ``taskset`` grants make
    every parallel op wait on preempted threads.
    """
    cpus = usable_cpus()
    if torch.get_num_threads() > cpus:
        torch.set_num_threads(cpus)


def default_batch_tokens(batch_size: int, device: torch.device, hidden_size: int) -> int:
    """Padded tokens per batch: on GPU ``batch_size * 512``; on CPU a fixed amount of work per op.

    On CPU each weight matmul of a batch gets about 1.2 GFLOP (2048 tokens at hidden size 768, 8192 at
    384, at most 16384 tokens): long enough to amortise the threads' synchronisation at every op, which
    dominates when other processes share the cores, yet small enough that activations fit the cache and
    the allocator reuses them instead of mapping and zeroing fresh pages at every op.
    """
    if device.type == "cuda":
        return batch_size * 512
    return max(256, min(CPU_MAX_BATCH_TOKENS, CPU_BATCH_TOKENS_AT_768 * 768**2 // hidden_size**2))


@contextmanager
def exact_float32(dtype: torch.dtype) -> Iterator[None]:
    """Run float32 matmuls in full precision (no TF32 or bf16 passes) whatever the process set globally.

    The identity says ``float32``, so the vectors must not depend on a training library having lowered
    ``torch.set_float32_matmul_precision`` elsewhere in the process.
    """
    previous = torch.get_float32_matmul_precision()
    if dtype == torch.float32 and previous != "highest":
        torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        if torch.get_float32_matmul_precision() != previous:
            torch.set_float32_matmul_precision(previous)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bf16 on CUDA where supported, fp16 on other CUDA, fp32 on CPU."""
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: auto, {', '.join(_DTYPES)}") from None


def resolve_cache_dtype(cache_dtype: str, device: torch.device) -> str:
    """``auto`` -> float16 for models encoded on CUDA (half the bytes), float32 on CPU (bit-exact)."""
    if cache_dtype == "auto":
        return "float16" if device.type == "cuda" else "float32"
    if cache_dtype not in STORAGE_DTYPES:
        raise ValueError(f"unknown cache_dtype {cache_dtype!r}; known: auto, {', '.join(STORAGE_DTYPES)}")
    return cache_dtype


BATCHINGS = ("uniform", "padded")


def resolve_batching(batching: str, device: torch.device) -> str:
    """``auto`` -> ``uniform`` on CPU, ``padded`` on CUDA.

    A padded batch gives a text a vector that depends, in its last bits, on the lengths of the texts
    beside it, so a cache filled in another order holds other bits and training downstream can turn
    them into other scores. A ``uniform`` batch pads every text to a width set by its own length
    alone (:func:`padded_widths`), so a vector depends on its text alone (on CPU, as a test checks, a
    batch's size leaves its rows' bits alone). GPUs keep ``padded``: their kernels depend on shape
    anyway, and fuller batches feed them better.
    """
    if batching == "auto":
        return "padded" if device.type == "cuda" else "uniform"
    if batching not in BATCHINGS:
        raise ValueError(f"unknown batching {batching!r}; known: auto, {', '.join(BATCHINGS)}")
    return batching


def padded_widths(lengths: np.ndarray, bucket_tokens: int, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each text's padded width under ``uniform`` batching, and whether it fills that width.

    The width is the text's token length rounded up to a multiple of ``bucket_tokens`` (at most
    ``max_length``), so it follows from the text alone. Texts that fill their width batch apart from
    those padded to it: a batch with no padding runs unmasked, one with padding masked, and each text
    always takes the same of the two paths, whoever its companions.
    """
    widths = np.minimum(-(-lengths // bucket_tokens) * bucket_tokens, max_length)
    return widths, widths == lengths


def exact_prefix_chars(tokenizer: PreTrainedTokenizerBase, max_length: int) -> int | None:
    """How much of a long text to tokenise, or None when only the whole text gives exact tokens.

    A tokenizer that truncates on the right, normalises character by character (``BertNormalizer``),
    splits words at every space (``BertPreTokenizer``: no word spans a space) and knows no added token
    holding a space, gives a text cut just before a space exactly the first tokens of the whole text.
    So when the cut still fills ``max_length`` tokens, the truncated ids are those of the whole text,
    without tokenising the kilobytes after it (most of the work on long documents with short models).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or getattr(tokenizer, "truncation_side", "right") != "right":
        return None
    normalizer = backend.normalizer
    if type(backend.pre_tokenizer).__name__ != "BertPreTokenizer":
        return None
    if normalizer is not None and type(normalizer).__name__ != "BertNormalizer":
        return None
    if any(any(c.isspace() for c in token) for token in tokenizer.get_added_vocab()):
        return None
    return _PREFIX_CHARS_PER_TOKEN * max_length


def _space_prefix(text: str, chars: int) -> str:
    """``text`` cut just before its last space within ``chars`` characters (whole when it has none)."""
    cut = text.rfind(" ", 0, chars + 1)
    return text[:cut] if cut > 0 else text


def background(items: Iterable, ahead: int = _AHEAD) -> Iterator:
    """Iterate ``items`` computed in a background thread, at most ``ahead`` of the consumer.

    Errors in the thread are raised in the consumer; a consumer that stops early stops the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    end = object()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as err:  # handed to the consumer
            put((end, err))

    thread = threading.Thread(target=produce, name="era-tokenize", daemon=True)
    thread.start()
    try:
        while True:
            item, err = buffer.get()
            if item is end:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _file_fingerprint(path: Path, digest: hashlib._Hash) -> None:
    """Feed ``path`` into ``digest``: whole content for small files, size plus sampled blocks for weights.

    Weights are sampled (first and last MiB, which hold a safetensors header, and evenly spaced blocks)
    so that fingerprinting a multi-GB checkpoint costs a few MB of reads, yet any fine-tune, which
    changes every tensor, gets a different fingerprint.
    """
    size = path.stat().st_size
    digest.update(f"{path.name}\0{size}\0".encode())
    with open(path, "rb") as handle:
        if size <= 2 * _EDGE + _SAMPLE_BLOCKS * _BLOCK:
            digest.update(handle.read())
            return
        digest.update(handle.read(_EDGE))
        for i in range(_SAMPLE_BLOCKS):
            handle.seek(_EDGE + i * (size - 2 * _EDGE) // _SAMPLE_BLOCKS)
            digest.update(handle.read(_BLOCK))
        handle.seek(size - _EDGE)
        digest.update(handle.read(_EDGE))


def weights_fingerprint(folder: Path) -> str:
    """A fast content fingerprint of a model folder: config, tokenizer files and (sampled) weights."""
    digest = hashlib.sha1()
    files = sorted(p for p in folder.iterdir() if p.is_file())
    used = [p for p in files if p.name.endswith(_WEIGHT_SUFFIXES) or _TOKENIZER_FILES.match(p.name)]
    if not any(p.name == "config.json" for p in used):
        raise FileNotFoundError(f"no config.json in model folder {folder}")
    for path in used:
        _file_fingerprint(path, digest)
    return digest.hexdigest()


def model_fingerprint(resolved: str) -> str:
    """What identifies a resolved model's weights: a local folder's content, or a hub snapshot's commit."""
    path = Path(resolved)
    if path.is_dir():
        return weights_fingerprint(path)
    from transformers.utils import cached_file

    snapshot = Path(cached_file(resolved, "config.json")).parent
    return f"hub:{resolved}@{snapshot.name}"


def truncation_length(max_length: int, model_max_length: int | None) -> int:
    """Tokens kept per text: ``max_length``, or the tokenizer's ``model_max_length`` if that is shorter."""
    return min(max_length, int(model_max_length or max_length))


def declared_shape(resolved: str) -> tuple[int, int] | None:
    """``(hidden_size, model_max_length)`` as a local model folder's files state them, or None.

    What the cache identity needs from the config and tokenizer, read from ``config.json`` and
    ``tokenizer_config.json`` (where transformers reads them) without importing transformers,
    about 0.7 s of every warm run's start-up. None when either is not stated there (or the model
    is not a local folder): the embedder then loads both through transformers. A tokenizer loaded
    later is checked against what was read (:meth:`HFEmbedder._use_tokenizer`).
    """
    folder = Path(resolved)
    try:
        hidden = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("hidden_size")
        tokenizer = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    limit = tokenizer.get("model_max_length")
    if not isinstance(hidden, int) or not isinstance(limit, int) or isinstance(limit, bool):
        return None
    return hidden, limit


def loaded_fingerprint(model: torch.nn.Module) -> str:
    """A fingerprint of an in-memory model: its config and a strided sample of every tensor."""
    digest = hashlib.sha1(model.config.to_json_string(use_diff=False).encode())
    for key, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy()
        digest.update(f"{key}\0{tuple(tensor.shape)}\0{tensor.dtype}\0".encode())
        digest.update(sample.tobytes())
    return digest.hexdigest()


class HFEmbedder:
    """A frozen encoder turning formatted texts into L2-normalised float32 vectors.

    Construction is cheap: it reads the model's shape (:func:`declared_shape`) and fingerprints the
    files; the tokenizer and weights load on first use, so a run served from the cache never loads
    them (nor imports transformers). ``identity`` names
    everything that changes the vector of a given text (weights, pooling, truncation, normalisation,
    dtype, storage dtype), so caches key on ``(identity, text)``. ``max_batch_tokens`` caps the padded
    tokens of one batch (default: :func:`default_batch_tokens`), so long texts come in smaller batches.
    ``cache_dtype`` is how the cache stores the vectors (see :func:`resolve_cache_dtype`);
    ``attn_implementation`` (e.g. ``sdpa``, ``flash_attention_2``) and ``compile`` (``torch.compile``)
    are optional speed-ups on GPU, both part of the identity when set. ``batching`` says whether a
    batch mixes lengths (:func:`resolve_batching`); ``uniform``, with the ``bucket_tokens`` its widths
    round up to (:func:`padded_widths`), is part of the identity.
    """

    def __init__(
        self,
        name: str,
        model: str,
        pooling: str = "mean",
        max_length: int = 256,
        query_template: str = "plain",
        normalize: bool = True,
        batch_size: int = 64,
        dtype: str = "auto",
        device: str = "auto",
        max_batch_tokens: int | None = None,
        cache_dtype: str = "auto",
        attn_implementation: str | None = None,
        compile: bool = False,
        batching: str = "auto",
        bucket_tokens: int = DEFAULT_BUCKET_TOKENS,
    ) -> None:
        self.model_ref = model
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.cache_dtype = resolve_cache_dtype(cache_dtype, self.device)
        self.batching = resolve_batching(batching, self.device)
        self.bucket_tokens = bucket_tokens
        self.attn_implementation = attn_implementation
        self.compile = compile
        self._path = resolve_model(model)
        self._model: torch.nn.Module | None = None
        declared = declared_shape(self._path)
        tokenizer = None if declared else self._load_tokenizer(name)
        if declared:
            hidden_size, model_max_length = declared
        else:
            from transformers import AutoConfig

            hidden_size = int(self._loading(name, AutoConfig.from_pretrained, self._path).hidden_size)
            model_max_length = tokenizer.model_max_length
        self._setup(
            name,
            hidden_size,
            model_max_length,
            tokenizer,
            model_fingerprint(self._path),
            pooling,
            max_length,
            query_template,
            normalize,
            batch_size,
            max_batch_tokens,
        )

    @classmethod
    def from_loaded(
        cls,
        name: str,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        pooling: str = "mean",
        max_length: int = 256,
        query_template: str = "plain",
        normalize: bool = True,
        batch_size: int = 64,
        max_batch_tokens: int | None = None,
        cache_dtype: str = "auto",
        batching: str = "auto",
        bucket_tokens: int = DEFAULT_BUCKET_TOKENS,
    ) -> HFEmbedder:
        """An embedder over a model already in memory (its device, dtype and attention are kept)."""
        self = cls.__new__(cls)
        first = next(model.parameters())
        self.model_ref = getattr(model.config, "_name_or_path", "") or name
        self.device, self.dtype = first.device, first.dtype
        self.cache_dtype = resolve_cache_dtype(cache_dtype, self.device)
        self.batching = resolve_batching(batching, self.device)
        self.bucket_tokens = bucket_tokens
        self.attn_implementation, self.compile = None, False
        self._path = None
        self._model = model.eval().requires_grad_(False)
        self._setup(
            name,
            int(model.config.hidden_size),
            tokenizer.model_max_length,
            tokenizer,
            loaded_fingerprint(model),
            pooling,
            max_length,
            query_template,
            normalize,
            batch_size,
            max_batch_tokens,
        )
        return self

    def _setup(
        self,
        name: str,
        hidden_size: int,
        model_max_length: int | None,
        tokenizer: PreTrainedTokenizerBase | None,
        fingerprint: str,
        pooling: str,
        max_length: int,
        query_template: str,
        normalize: bool,
        batch_size: int,
        max_batch_tokens: int | None,
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; known: {', '.join(POOLINGS)}")
        if query_template not in TEMPLATES:
            raise ValueError(f"unknown query template {query_template!r}; known: {', '.join(TEMPLATES)}")
        if max_length < 2 or batch_size < 1:
            raise ValueError(f"max_length must be >= 2 and batch_size >= 1, got {max_length}, {batch_size}")
        if self.bucket_tokens < 1:
            raise ValueError(f"bucket_tokens must be >= 1, got {self.bucket_tokens}")
        self.name = name
        self.pooling = pooling
        self.query_template = query_template
        self.normalize = normalize
        self.batch_size = batch_size
        self.requested_max_length = max_length
        self.max_length = truncation_length(max_length, model_max_length)
        self.dim = hidden_size
        self.max_batch_tokens = max_batch_tokens or default_batch_tokens(batch_size, self.device, self.dim)
        self._tokenizer = None
        if tokenizer is not None:
            self._use_tokenizer(tokenizer)
        settings = {
            "weights": fingerprint,
            "pooling": pooling,
            "max_length": self.max_length,
            "normalize": normalize,
            "dtype": str(self.dtype).removeprefix("torch."),
        }
        # Set only when they differ from the defaults, so float32 caches made before keep their names.
        if self.cache_dtype != "float32":
            settings["cache_dtype"] = self.cache_dtype
        # Padded caches keep their names; uniform batches give other bits, so another identity.
        if self.batching != "padded":
            settings["batching"] = self.batching
            if self.bucket_tokens != 1:  # 1: one token length per batch, as uniform caches were first made
                settings["bucket_tokens"] = self.bucket_tokens
        if self.attn_implementation:
            settings["attn_implementation"] = self.attn_implementation
        if self.compile:
            settings["compile"] = True
        key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        self.identity = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}-{key}"

    @staticmethod
    def _loading(name: str, load, path: str):
        """``load(path)`` (a transformers ``from_pretrained``), its OSError naming the embedder."""
        try:
            return load(path)
        except OSError as err:
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("", "0", "false")
            hint = " (HF_HUB_OFFLINE is set: only locally cached hub models can load)" if offline else ""
            raise OSError(f"cannot load model {path!r} for embedder {name!r}{hint}: {err}") from err

    def _load_tokenizer(self, name: str) -> PreTrainedTokenizerBase:
        from transformers import AutoTokenizer

        return self._loading(name, AutoTokenizer.from_pretrained, self._path)

    def _use_tokenizer(self, tokenizer: PreTrainedTokenizerBase) -> None:
        """Padding and prefix settings from ``tokenizer``, which must truncate as the identity says."""
        length = truncation_length(self.requested_max_length, tokenizer.model_max_length)
        if length != self.max_length:
            raise ValueError(
                f"{self.name}: the tokenizer of {self.model_ref!r} truncates at {length} tokens, but its "
                f"files declared {self.max_length} when the cache identity was made"
            )
        self._tokenizer = tokenizer
        self._prefix_chars = exact_prefix_chars(tokenizer, self.max_length)
        pad_id = tokenizer.pad_token_id
        self.pad_id = pad_id if pad_id is not None else (tokenizer.eos_token_id or 0)
        self.left_padding = tokenizer.padding_side == "left"

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer, loaded on first use (a run served from the cache never tokenises)."""
        if self._tokenizer is None:
            self._use_tokenizer(self._load_tokenizer(self.name))
        return self._tokenizer

    def __getattr__(self, name: str):
        # The settings taken from the tokenizer exist once it is loaded: asking for one loads it.
        if name in _TOKENIZER_SETTINGS:
            self.tokenizer  # noqa: B018
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def model(self) -> torch.nn.Module:
        """The encoder, loaded on first use."""
        if self._model is None:
            from transformers import AutoModel

            extra = {"attn_implementation": self.attn_implementation} if self.attn_implementation else {}
            model = AutoModel.from_pretrained(self._path, dtype=self.dtype, **extra)
            model = model.to(self.device).eval().requires_grad_(False)
            self._model = torch.compile(model, dynamic=True) if self.compile else model
        return self._model

    def on_device(self, device: str) -> HFEmbedder:
        """This embedder on another device of the same kind (one per rank): same identity, no weights yet."""
        target = torch.device(device)
        if target.type != self.device.type or self._path is None:
            raise ValueError(f"{self.name}: cannot move from {self.device} to {target} keeping its identity")
        moved = copy.copy(self)
        moved.device, moved._model = target, None
        return moved

    def __repr__(self) -> str:
        return f"HFEmbedder({self.name!r}, {self.model_ref!r}, identity={self.identity!r})"

    def format_queries(self, queries: Sequence[Query]) -> list[str]:
        """Query texts rendered with this embedder's template and each query's own instruction."""
        return [format_query(self.query_template, q.instruction, q.text) for q in queries]

    def format_docs(self, texts: Sequence[str]) -> list[str]:
        """Document texts as embedded: unchanged, documents never carry an instruction."""
        return list(texts)

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]

    def token_lengths(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of each text truncated at ``max_length`` real tokens, and their lengths.

        Where the tokenizer allows it (:func:`exact_prefix_chars`), a long text is tokenised from a
        prefix ending at a space; one whose prefix falls short of ``max_length`` tokens is tokenised
        whole, so the ids are always exactly those of the whole text.
        """
        texts = list(texts)
        chars = self._prefix_chars
        long = [] if chars is None else [i for i, text in enumerate(texts) if len(text) > chars]
        inputs = list(texts)
        for i in long:
            inputs[i] = _space_prefix(texts[i], chars)  # type: ignore[arg-type]
        ids = self._tokenize(inputs)
        short = [i for i in long if len(ids[i]) < self.max_length and inputs[i] is not texts[i]]
        if short:
            for i, whole in zip(short, self._tokenize([texts[i] for i in short]), strict=True):
                ids[i] = whole
        return ids, np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))

    def _batches(self, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
        """``(indices, width)`` longest first: a batch holds <= batch_size texts and <= max_batch_tokens
        padded, padded to its longest text, or under ``uniform`` batching texts of one padded width
        (:func:`padded_widths`) that all fill it or all do not."""
        if self.batching == "uniform":
            widths, full = padded_widths(lengths, self.bucket_tokens, self.max_length)
            order = np.lexsort((~full, -widths))  # widest first; at one width, full texts first
            group = widths[order] * 2 + full[order]
        else:
            order = np.argsort(-lengths, kind="stable")
            widths, group = lengths, np.zeros(len(order), dtype=np.int64)
        ends = np.append(np.flatnonzero(np.diff(group)) + 1, len(order))  # where each group's run ends
        start = 0
        while start < len(order):
            width = int(widths[order[start]])
            size = max(1, min(self.batch_size, self.max_batch_tokens // max(width, 1)))
            end = min(start + size, int(ends[np.searchsorted(ends, start, side="right")]))
            yield order[start:end], width
            start = end

    def _pad(
        self, seqs: list[list[int]], width: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pad one batch to ``width`` (default: its longest sequence); the mask is None when nothing
        needed padding."""
        width = max(map(len, seqs)) if width is None else width
        ids = np.full((len(seqs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for row, seq in enumerate(seqs):
            span = slice(width - len(seq), width) if self.left_padding else slice(0, len(seq))
            ids[row, span] = seq
            mask[row, span] = 1
        uniform = all(len(seq) == width for seq in seqs)
        return torch.from_numpy(ids), None if uniform else torch.from_numpy(mask)

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Pool token states into one vector per row (in float32), honouring left or right padding.

        cls and last pooling pick their token before upcasting, so only mean pooling upcasts every state.
        """
        if mask is None:
            if self.pooling == "mean":
                return hidden.float().mean(dim=1)
            return (hidden[:, 0] if self.pooling == "cls" else hidden[:, -1]).float()
        if self.pooling == "mean":
            hidden = hidden.float()
            weights = mask.unsqueeze(1).to(hidden.dtype)
            return torch.bmm(weights, hidden).squeeze(1) / weights.sum(dim=2).clamp(min=1e-9)
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        if self.pooling == "cls":
            return hidden[rows, mask.argmax(dim=1)].float()
        last = mask.shape[1] - 1 - mask.flip(dims=[1]).argmax(dim=1)
        return hidden[rows, last].float()

    def _windows(self, texts: Sequence[str]) -> Iterator[np.ndarray]:
        """Positions of ``texts`` tokenised and length-sorted together.

        On CPU one window holds everything, so batches are those of a global sort by tokens. On CUDA
        windows of ``_WINDOW_BATCHES`` batches (the first one two batches, so the GPU starts at
        once) follow a sort by characters, a cheap proxy of length.
        """
        if self.device.type != "cuda":
            yield np.arange(len(texts))
            return
        order = np.argsort(-np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), kind="stable")
        start, size = 0, 2 * self.batch_size
        while start < len(order):
            yield order[start : start + size]
            start += size
            size = _WINDOW_BATCHES * self.batch_size

    def _prepared(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, Tensor, Tensor | None]]:
        """``(positions, input_ids, mask)`` batch after batch, padded (and pinned on CUDA)."""
        pin = self.device.type == "cuda"
        for window in self._windows(texts):
            ids, lengths = self.token_lengths([texts[i] for i in window])
            for batch, width in self._batches(lengths):
                input_ids, mask = self._pad([ids[i] for i in batch], width)
                if pin:
                    input_ids = input_ids.pin_memory()
                    mask = None if mask is None else mask.pin_memory()
                yield window[batch], input_ids, mask

    def encode(self, texts: Sequence[str], show_progress: bool | None = None) -> np.ndarray:
        """Embed already-formatted ``texts``; returns float32 ``(len(texts), dim)`` in input order."""
        if not len(texts):
            return np.empty((0, self.dim), dtype=np.float32)
        model = self.model
        if self.device.type == "cpu":
            fit_cpu_threads()
        # Rows in batch order on the device, put back in input order on the host after one copy.
        result = torch.empty((len(texts), self.dim), dtype=torch.float32, device=self.device)
        order = np.empty(len(texts), dtype=np.int64)
        done = 0
        disable = quiet() if show_progress is None else not show_progress
        with (
            torch.inference_mode(),
            exact_float32(self.dtype),
            tqdm(total=len(texts), desc=self.name, unit="text", disable=disable, leave=False) as bar,
        ):
            for positions, input_ids, mask in background(self._prepared(texts)):
                input_ids = input_ids.to(self.device, non_blocking=True)
                mask = None if mask is None else mask.to(self.device, non_blocking=True)
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                vectors = self._pool(hidden, mask)
                if self.normalize:
                    vectors = F.normalize(vectors, p=2, dim=1)
                result[done : done + len(positions)] = vectors
                order[done : done + len(positions)] = positions
                done += len(positions)
                bar.update(len(positions))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        out[order] = result.cpu().numpy()
        return out
