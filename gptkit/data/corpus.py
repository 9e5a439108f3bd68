"""
From a stream of documents to token shards: what every prepare script shares.

    documents (streamed) -> tokenized in worker processes -> shard 0: the first val_tokens tokens (validation)
                                                          -> shards 1, 2, ...: shard_size tokens each (training)

Memory stays flat: documents are read, tokenized and written a bounded chunk at a time. After each finished
shard, progress.json records where the next shard starts (document and token), so a re-run skips the
finished shards and the documents they hold.
"""

import itertools
import json
import multiprocessing as mp
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gptkit.errors import UserError
from gptkit.data.shards import token_dtype, write_shard
from gptkit.data.tokenizer import DEFINITION_FILE, as_tokenizer, encode_document, get_tokenizer

DOCUMENTS_PER_CHUNK = 2048  # documents handed to the worker pool at once: bounds memory whatever the corpus size

_worker_tokenizer = None


def _start_worker(tokenizer_name, definition):
    global _worker_tokenizer
    _worker_tokenizer = get_tokenizer(tokenizer_name, definition)


def _tokenize(text):
    return np.asarray(encode_document(_worker_tokenizer, text), dtype=np.uint32)


def stream_documents(source, name=None, split="train", text_field="text", revision=None):
    """Texts from a local .parquet/.jsonl/.json/.txt file or folder of them, or a Hugging Face dataset name.

    A local .txt file is one document; parquet and jsonl rows are documents (their `text_field`).
    """
    path = Path(source)
    if path.exists():
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix == ".txt":
                yield read_text_file(file)
            elif file.suffix in (".parquet", ".jsonl", ".json"):
                yield from _stream_rows(file, text_field)
        return
    import datasets

    try:
        rows = datasets.load_dataset(source, name=name, split=split, streaming=True, revision=revision)
        for row in rows:
            yield row[text_field]
    except (ConnectionError, OSError) as e:
        raise UserError(
            f"could not stream dataset {source!r} ({type(e).__name__}): check the network or "
            "give --dataset a local parquet/jsonl/text file or folder"
        ) from None


BINARY_CHECK_BYTES = 65536  # how much of a file read_text_file inspects
MAX_UNDECODABLE_SHARE = 0.3  # a Latin-1 text has a few percent of bytes that are not UTF-8; random bytes most


def read_text_file(path):
    """A text file's contents as one document (bytes that are not UTF-8 replaced). A binary file (NUL bytes, or
    mostly undecodable bytes, in its first 64 KB) is refused with its name: its bytes would become nonsense
    training data."""
    path = Path(path)
    data = path.read_bytes()
    head = data[:BINARY_CHECK_BYTES]
    undecodable = head.decode("utf-8", errors="replace").count("\ufffd")
    if b"\0" in head or undecodable > MAX_UNDECODABLE_SHARE * len(head):
        raise UserError(f"{path} looks like a binary file, not text (NUL or undecodable bytes); leave it out")
    return data.decode("utf-8", errors="replace")


def _stream_rows(file, text_field):
    """The text_field of each row of a parquet or jsonl file, read a batch of rows at a time."""
    if file.suffix == ".parquet":
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(file)
        if text_field not in parquet.schema_arrow.names:
            raise UserError(
                f"{file} has no column {text_field!r}; its columns: {', '.join(parquet.schema_arrow.names)}"
            )
        for batch in parquet.iter_batches(batch_size=1024, columns=[text_field]):
            yield from batch.column(0).to_pylist()
        return
    with open(file, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, 1):
            if line.strip():
                row = json.loads(line)
                if text_field not in row:
                    raise UserError(f"{file}:{line_number} has no field {text_field!r}")
                yield row[text_field]


def _chunks(iterable, size):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _shard_path(out_dir, prefix, index):
    split = "val" if index == 0 else "train"
    return Path(out_dir) / f"{prefix}_{split}_{index:06d}.bin"


def _read_progress(progress_file, settings):
    if not progress_file.exists():
        return {"shards_done": 0, "next_document": 0, "next_token": 0, "complete": False}
    progress = json.loads(progress_file.read_text())
    if progress["settings"] != settings:
        raise UserError(
            f"{progress_file.parent} holds shards prepared with other settings ({progress['settings']}); "
            "delete it or choose another output folder"
        )
    return progress


def _write_progress(progress_file, settings, shards_done, next_document, next_token, complete):
    """Where the next shard starts (document index, token within it), written atomically after each shard."""
    record = dict(
        settings=settings,
        shards_done=shards_done,
        next_document=next_document,
        next_token=next_token,
        complete=complete,
    )
    temporary = progress_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=1))
    os.replace(temporary, progress_file)


class ShardWriter:
    """Tokens into shards of out_dir, one shard after another: shard 0 (validation) holds val_tokens tokens, the
    others shard_size. A shard is written as soon as it is full, and progress.json then records where the next
    one starts (document index, token within it)."""

    def __init__(self, out_dir, settings, shards_done, vocab_size):
        self.out_dir, self.settings, self.vocab_size = Path(out_dir), settings, vocab_size
        self.shard_index = shards_done
        self.buffer = np.empty(self.capacity(), dtype=token_dtype(self.vocab_size))
        self.filled = 0  # tokens of the buffer in use

    def capacity(self):
        return self.settings["val_tokens"] if self.shard_index == 0 else self.settings["shard_size"]

    def paths(self):
        """The finished shards."""
        return [_shard_path(self.out_dir, self.settings["prefix"], i) for i in range(self.shard_index)]

    def add(self, tokens, document_index, start=0):
        """tokens[start:] of the document at document_index (start > 0: the rest of a document whose beginning is
        in a finished shard); returns how many tokens that is."""
        position = start
        while position < len(tokens):
            take = min(len(self.buffer) - self.filled, len(tokens) - position)
            self.buffer[self.filled : self.filled + take] = tokens[position : position + take]
            self.filled, position = self.filled + take, position + take
            if self.filled == len(self.buffer):
                more_in_document = position < len(tokens)
                next_token = position if more_in_document else 0
                self.finish_shard(document_index if more_in_document else document_index + 1, next_token)
        return position - start

    def finish_shard(self, next_document, next_token, complete=False):
        """The buffer as the next shard; progress then says the shard after it starts at next_token of
        next_document."""
        path = _shard_path(self.out_dir, self.settings["prefix"], self.shard_index)
        write_shard(path, self.buffer[: self.filled], self.settings["tokenizer"], self.vocab_size)
        self.shard_index += 1
        self.write_progress(next_document, next_token, complete)
        self.buffer, self.filled = np.empty(self.capacity(), dtype=self.buffer.dtype), 0

    def write_progress(self, next_document, next_token, complete):
        progress_file = self.out_dir / "progress.json"
        _write_progress(progress_file, self.settings, self.shard_index, next_document, next_token, complete)

    def finish(self, documents_seen):
        """The last shard and the final progress record, after documents_seen documents in all; returns every
        shard's path. A corpus too small for a validation split and some training data is refused."""
        if self.shard_index == 0 and self.filled == 0:
            raise UserError("no documents in the input")
        if self.shard_index == 0 or (self.shard_index == 1 and self.filled == 0):
            val_tokens = self.settings["val_tokens"]
            raise UserError(
                f"the corpus has only {self.filled or val_tokens} tokens: not enough for a validation split of "
                f"{val_tokens} tokens and any training data; use a smaller val_tokens"
            )
        if self.filled:
            self.finish_shard(documents_seen, 0, complete=True)
        else:  # the last shard ended exactly at the corpus' end
            self.write_progress(documents_seen, 0, complete=True)
        return self.paths()


def write_definition(tokenizer, out_dir):
    """A trained tokenizer's definition beside its shards (written whole, then renamed into place), so that every
    command reading them finds it (gptkit/data/tokenizer.py, data_tokenizer)."""
    if tokenizer.definition is None:
        return
    path = Path(out_dir) / DEFINITION_FILE
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(tokenizer.definition, encoding="utf-8")
    os.replace(temporary, path)


def write_token_shards(
    documents, out_dir, prefix, tokenizer, shard_size, val_tokens, workers=None, document_settings=None
):
    """Tokenize documents into shards in out_dir with tokenizer (gptkit/data/tokenizer.py's, or a built-in one's
    name); returns the list of shard paths (skips finished work). document_settings: what else chose the documents
    (a mix), kept in progress.json with the rest."""
    if val_tokens < 1 or shard_size < 1:
        raise UserError("shard_size and val_tokens must be positive")
    tokenizer = as_tokenizer(tokenizer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = {"prefix": prefix, "tokenizer": tokenizer.name, "shard_size": shard_size, "val_tokens": val_tokens}
    settings.update(document_settings or {})
    progress = _read_progress(out_dir / "progress.json", settings)
    if progress["complete"]:
        print(f"{out_dir}: all {progress['shards_done']} shards already prepared")
        return [_shard_path(out_dir, prefix, i) for i in range(progress["shards_done"])]

    write_definition(tokenizer, out_dir)  # before the first shard that names it
    writer = ShardWriter(out_dir, settings, progress["shards_done"], tokenizer.n_vocab)
    documents = itertools.islice(documents, progress["next_document"], None)  # skip what finished shards hold
    skip_tokens = progress["next_token"]  # of the first document: its start is in the last finished shard
    document_index = progress["next_document"]
    workers = workers or os.cpu_count()
    bar = tqdm(unit="tok", unit_scale=True, desc=f"{prefix} shard {writer.shard_index}")
    # forkserver, not fork: a process that has started threads (torch's, a test runner's) can hang a forked child
    # on a lock some thread held at the fork; the server forks its workers from a clean process. Windows has no
    # forkserver, and spawns (its default) instead.
    start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else None
    pool = mp.get_context(start_method).Pool(workers, _start_worker, (tokenizer.name, tokenizer.definition))
    with pool:
        for chunk in _chunks(documents, DOCUMENTS_PER_CHUNK):
            for tokens in pool.imap(_tokenize, chunk, chunksize=16):
                bar.update(writer.add(tokens, document_index, start=skip_tokens))
                skip_tokens = 0  # only the first document after a resume began in a finished shard
                document_index += 1
                bar.set_description(f"{prefix} shard {writer.shard_index}", refresh=False)
                bar.set_postfix(docs=document_index, refresh=False)
    bar.close()
    return writer.finish(document_index)


# ----------------------------------------------------------------------------------------------------------
# Local texts, and the embedded demo corpus: the Python documentation's topic pages that ship with every Python
# installation (pydoc_data.topics: the language reference's sections on statements, operators, types, ...):
# real English text, about half a million characters, on every machine that runs this repository.

EMBEDDED_DATA_DIR = "data/python_docs"


def embedded_documents():
    from pydoc_data.topics import topics

    return [topics[name] for name in sorted(topics)]


def prepare_texts(texts, out_dir, tokenizer, val_fraction=0.1, workers=None, retrieval=None):
    """Texts (each a document) into shards of out_dir; the first val_fraction of the tokens is validation.
    retrieval: a RetrievalMix, synthetic retrieval documents mixed into the training split
    (gptkit/data/retrieval_documents.py)."""
    if not texts or not any(texts):
        raise UserError("no text to prepare")
    tokenizer = as_tokenizer(tokenizer)
    counting = tqdm(texts, desc="counting tokens", unit="doc", disable=len(texts) < 100)
    lengths = [len(encode_document(tokenizer, text)) for text in counting]
    val_tokens = max(1, int(sum(lengths) * val_fraction))
    mixed = {}
    if retrieval is not None and retrieval.share > 0:
        texts = retrieval.mixed(texts, lengths, val_tokens, lambda text: len(encode_document(tokenizer, text)))
        mixed = {"retrieval": asdict(retrieval)}
    prefix = Path(out_dir).name
    return write_token_shards(texts, out_dir, prefix, tokenizer, 100_000_000, val_tokens, workers, mixed)


def prepare_embedded(out_dir=EMBEDDED_DATA_DIR, retrieval=None):
    return prepare_texts(embedded_documents(), out_dir, "bytes", workers=1, retrieval=retrieval)
