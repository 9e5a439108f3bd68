"""
Synthetic retrieval documents: plain text in which some lines can be predicted only by reading back to an
earlier line, mixed into a real corpus so that a small model learns to use its context.

Two kinds, one chosen at random for each document, as long-context work trains and tests retrieval:
- a key-value list: "set qzkd = 4907" lines, and "get qzkd = 4907" lines that ask again for a key set earlier
  (the value after "get" is the answer: the one set for that key);
- repeated lines: lines of random letters, some of them a verbatim repeat of an earlier line (the answer).
A query asks for the line whose latest copy (the line itself, or an earlier query of it) is nearest to a
distance drawn uniformly up to `max_distance` characters back. The documents are ASCII text, so any tokenizer
reads them (bytes: one token a character). The retrieval probe of evaluate.py builds its rows from the same
lines (record_prefix, query_prefix) and counts its distances in the model's tokens.

RetrievalMix.mixed mixes such documents into a list of real documents, after those that hold the
validation split, so that they make up `share` of the training split's tokens (to within one document).

The invariant the tests check: one seed gives the same documents every time; every query's answer stands earlier
in its document exactly `distance` characters before the query's answer; a prepared training shard holds the
share asked for, and the validation shard none.
"""

import string
from dataclasses import dataclass, field

import numpy as np

from gptkit.errors import UserError

HEADERS = {"key_value": "key-value list:\n", "repeated_lines": "repeated lines:\n"}
KEY_LETTERS = 4  # a key is 4 letters: 40^4 keys, never two alike in a document
VALUE_DIGITS = 4  # a value is 4 digits: a guess is right once in 10^4
LINE_LETTERS = (8, 24)  # a line of the second kind: 8 ... 24 random letters
# The letters drawn: consonants, lower and upper case. Without vowels random strings spell no words; 40 of them make
# one letter a good clue to where an earlier copy is (with 20, a letter recurs every 20 on average), the first
# step of the induction that retrieval rests on.
CONSONANTS = "bcdfghjklmnpqrstvwxzBCDFGHJKLMNPQRSTVWXZ"


@dataclass
class RetrievalMix:
    """What the documents look like, and how many of them a prepared corpus holds."""

    share: float = 0.0  # of the training split's tokens; 0: none
    seed: int = 0  # of the documents drawn
    characters: int = 1024  # a document ends with the first line that reaches this length
    max_distance: int = 256  # characters a query looks back at most (from answer to answer)
    query_share: float = 0.5  # of the lines, where an earlier line can be asked for

    def __post_init__(self):
        problems = []
        if not 0 <= self.share < 1:
            problems.append(f"share must be in [0, 1), got {self.share}")
        if self.characters < 64 or self.max_distance < 32:
            problems.append(f"characters >= 64 and max_distance >= 32, got {self.characters}, {self.max_distance}")
        if not 0 < self.query_share < 1:
            problems.append(f"query_share must be between 0 and 1, got {self.query_share}")
        if problems:
            raise UserError("retrieval documents: " + "; ".join(problems))

    def mixed(self, texts, lengths, val_tokens, count_tokens):
        """texts with retrieval documents mixed in after the texts that hold the first val_tokens tokens (the
        validation split), `share` of the tokens after those, spread evenly among them. lengths: each text's
        tokens; count_tokens(text): a document's tokens."""
        ends = np.cumsum(lengths)
        first_training = int(np.searchsorted(ends, val_tokens, side="left")) + 1  # wholly past the validation split
        wanted = self.share / (1 - self.share) * (int(ends[-1]) - val_tokens)
        synthetic, synthetic_tokens = [], 0
        for document in retrieval_documents(self.seed, self):
            tokens = count_tokens(document.text)
            if synthetic_tokens + tokens / 2 > wanted:  # one more would be further from the share than none
                break
            synthetic.append((document.text, tokens))
            synthetic_tokens += tokens
        real = list(zip(texts[first_training:], lengths[first_training:]))
        return list(texts[:first_training]) + evenly_merged(real, synthetic)


@dataclass
class Query:
    position: int  # of the answer's first character in the document
    distance: int  # characters back to the first character of its earlier copy
    answer: str


@dataclass
class RetrievalDocument:
    kind: str
    text: str
    queries: list = field(default_factory=list)


def random_key(rng):
    return "".join(rng.choice(list(CONSONANTS), KEY_LETTERS))


def random_value(rng):
    return "".join(rng.choice(list(string.digits), VALUE_DIGITS))


def record_prefix(key):
    """What the line that sets a key says before its value (then " value" and a newline)."""
    return f"set {key} ="


def query_prefix(key):
    """What a query line says before its answer (then " value" and a newline)."""
    return f"get {key} ="


def record_line(key, value):
    return f"{record_prefix(key)} {value}\n"


def retrieval_document(rng, settings):
    """One document of a kind drawn from rng, its lines drawn from rng."""
    kind = str(rng.choice(list(HEADERS)))
    text, queries = HEADERS[kind], []
    latest = {}  # {answer: (where its latest copy starts, its key)} of the lines that can be asked for
    keys = set()
    while len(text) < settings.characters:
        line, offset, answer, key = new_line(kind, rng, keys)
        now = len(text) + offset  # where this line's answer starts
        reachable = [(at, answer, key) for answer, (at, key) in latest.items() if now - at <= settings.max_distance]
        if reachable and rng.random() < settings.query_share:
            target = now - rng.integers(1, settings.max_distance + 1)
            at, answer, key = min(reachable, key=lambda item: abs(item[0] - target))
            line = f"{query_prefix(key)} {answer}\n" if kind == "key_value" else answer + "\n"
            queries.append(Query(now, now - at, answer))
        latest[answer] = (now, key)  # a query is the latest copy of its answer
        text += line
    return RetrievalDocument(kind, text, queries)


def new_line(kind, rng, keys):
    """(a new line of the kind, where its answer starts in it, the answer, its key or None); a new key joins
    keys, the keys already used."""
    if kind == "key_value":
        key = random_key(rng)
        while key in keys:
            key = random_key(rng)
        keys.add(key)
        value = random_value(rng)
        line = record_line(key, value)
        return line, len(line) - len(value) - 1, value, key
    letters = "".join(rng.choice(list(CONSONANTS), rng.integers(LINE_LETTERS[0], LINE_LETTERS[1] + 1)))
    return letters + "\n", 0, letters, None


def retrieval_documents(seed, settings):
    """An endless stream of documents drawn from seed."""
    rng = np.random.default_rng(seed)
    while True:
        yield retrieval_document(rng, settings)


def is_retrieval_document(text):
    return text.startswith(tuple(HEADERS.values()))


def evenly_merged(first, second):
    """The texts of two lists of (text, tokens), merged in the order of where each one's middle falls within its
    own list: each list keeps its order, and each is spread evenly over the result."""

    def middles(items):
        total = sum(tokens for _, tokens in items) or 1
        ends = np.cumsum([tokens for _, tokens in items])
        return [(end - tokens / 2) / total for end, (_, tokens) in zip(ends, items)]

    keyed = [(m, 0, i, text) for i, (m, (text, _)) in enumerate(zip(middles(first), first))]
    keyed += [(m, 1, i, text) for i, (m, (text, _)) in enumerate(zip(middles(second), second))]
    return [text for *_, text in sorted(keyed)]
