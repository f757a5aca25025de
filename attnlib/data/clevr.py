"""CLEVR v1.0 question files, for readers who bring the real data set (chapter 6).

The course generates its own CLEVR-like questions (:mod:`attnlib.data.vqa`);
:func:`load_clevr_questions` reads the official ``CLEVR_{train,val,test}_questions.json``
into the same tensors (word indices, lengths, answer indices), so the models of
:mod:`attnlib.adahan` can be trained on it. Nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

__all__ = ["tokenize", "load_clevr_questions"]


def tokenize(text: str) -> list[str]:
    """Lower-cased words and the punctuation ``? ; ,`` as separate tokens: ``"Is it red?" -> ["is", "it", "red", "?"]``."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    return re.findall(r"[a-z0-9]+|[?;,]", text.lower())


def _check_record(r: object, i: int, path: Path) -> None:
    """ValueError naming the file, the record and the key unless ``r`` is a well-formed question record."""
    where = f"{str(path)!r}: questions[{i}]"
    if not isinstance(r, dict):
        raise ValueError(f"{where} must be an object, got {type(r).__name__}")
    if "question" not in r:
        raise ValueError(f"{where} has no 'question' key")
    if not isinstance(r["question"], str):
        raise ValueError(f"{where}['question'] must be a string, got {type(r['question']).__name__}")
    if not tokenize(r["question"]):
        raise ValueError(f"{where}['question'] has no words, got {r['question']!r}")
    if "answer" in r and not isinstance(r["answer"], (str, int)):
        raise ValueError(f"{where}['answer'] must be a string or an int, got {type(r['answer']).__name__}")
    for key in ("image_index", "question_family_index"):
        if key in r and (not isinstance(r[key], int) or isinstance(r[key], bool)):
            raise ValueError(f"{where}[{key!r}] must be an int, got {r[key]!r}")
    if "image_filename" in r and not isinstance(r["image_filename"], str):
        raise ValueError(f"{where}['image_filename'] must be a string, got {type(r['image_filename']).__name__}")


def load_clevr_questions(
    path: str | Path,
    vocab: dict[str, int] | None = None,
    answers: dict[str, int] | None = None,
) -> dict[str, object]:
    """Read a CLEVR v1.0 question file (``CLEVR_<split>_questions.json``).

    The file is ``{"info": {...}, "questions": [{"question": str, "answer": str,
    "image_index": int, "image_filename": str, "question_family_index": int,
    "split": str, ...}, ...]}``; the test split has no answers.

    Parameters
    ----------
    path
        The JSON file.
    vocab, answers
        Word and answer indices to reuse (for example the training set's, when reading
        ``val``); built from this file when ``None`` (word 0 is ``<pad>``, 1 is ``<unk>``).
        Words outside a given ``vocab`` map to ``<unk>``; answers outside ``answers`` to -1.

    A malformed record (not an object, no ``question`` string, a question with no words, an ``image_index``
    that is not an int...) raises a ValueError naming the file, the record and the key.

    Returns
    -------
    dict
        ``questions (Q, L)``, ``lengths (Q,)``, ``answers (Q,)`` (-1 where absent),
        ``image_index (Q,)``, ``family (Q,)`` (-1 where absent), ``image_filename`` (list),
        ``vocab`` and ``answer_vocab`` (dicts).
    """
    if not isinstance(path, (str, Path)):
        raise ValueError(f"path must be a str or a Path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file")
    for name, table in (("vocab", vocab), ("answers", answers)):
        if table is not None and (
            not isinstance(table, dict)
            or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in table.items())
        ):
            raise ValueError(f"{name} must be a dict from strings to int indices, or None")
    if vocab is not None and (not vocab or min(vocab.values()) < 0 or vocab.get("<unk>", 1) != 1):
        raise ValueError("vocab must map '<unk>' to 1 (unknown words are read as 1) and hold non-negative indices")
    try:
        with path.open(encoding="utf-8") as fh:
            payload = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{str(path)!r} is not valid JSON (empty, truncated or corrupt): {error}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("questions"), list):
        raise ValueError(f"{str(path)!r} is not a CLEVR question file: expected a 'questions' list")
    records = payload["questions"]
    if not records:
        raise ValueError(f"{str(path)!r} holds no questions")
    for i, r in enumerate(records):
        _check_record(r, i, path)
    tokens = [tokenize(r["question"]) for r in records]
    if vocab is None:
        vocab = {"<pad>": 0, "<unk>": 1}
        for row in tokens:
            for w in row:
                vocab.setdefault(w, len(vocab))
    if answers is None:
        answers = {}
        for r in records:
            if "answer" in r:
                answers.setdefault(str(r["answer"]).lower(), len(answers))
    length = max(len(r) for r in tokens)
    questions = torch.zeros(len(tokens), length, dtype=torch.long)
    for i, row in enumerate(tokens):
        questions[i, : len(row)] = torch.tensor([vocab.get(w, 1) for w in row], dtype=torch.long)
    return {
        "questions": questions,
        "lengths": torch.tensor([len(r) for r in tokens]),
        "answers": torch.tensor([answers.get(str(r["answer"]).lower(), -1) if "answer" in r else -1 for r in records]),
        "image_index": torch.tensor([int(r.get("image_index", -1)) for r in records]),
        "family": torch.tensor([int(r.get("question_family_index", -1)) for r in records]),
        "image_filename": [r.get("image_filename", "") for r in records],
        "vocab": vocab,
        "answer_vocab": answers,
    }
