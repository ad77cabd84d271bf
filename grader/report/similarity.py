"""Which pairs of submissions share much code beyond what the skeleton gave everyone.

The matching is copydetect's (winnowed fingerprints of token k-grams, the
method of MOSS): before fingerprinting, every name becomes ``V``/``F``/``O``
and every string ``S``, and whitespace and comments are dropped, so renaming
variables or reformatting changes nothing; a fingerprint is local, so
reordering methods changes little. Fingerprints of the skeleton
(``student_template/minigpt.py``) are removed from every file, and so are
fingerprints found in many submissions (MOSS's ``-m``: what everybody
writes is not evidence of copying).

A pair's similarity is the larger of the two shares: the fraction of one
file's code that is also in the other (copydetect's own measure, taken both
ways), so a copy padded with extra code is still found.

The student's source is hostile text: it is only read (never past the size
limit, never through a symbolic link) and tokenised by Pygments; nothing in
it is imported or executed.
"""

from __future__ import annotations

import bisect
import io
import math
import multiprocessing
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import GraderError
from ..paths import TEMPLATE_DIR
from ..submission import load_submission
from .plots import use_agg

SKELETON_PATH = TEMPLATE_DIR / "minigpt.py"
FRAGMENT_MAX_LINES = 40
FRAGMENT_MAX_CHARS = 4000
PARALLEL_FROM = 40  # fewer files are tokenised faster than worker processes start


class SimilaritySettings(BaseModel):
    """How pairs are compared and which are listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="list a pair when at least this fraction of one file is in the other",
    )
    noise: int = Field(
        50,
        ge=5,
        description="shortest match counted, in tokenised characters (copydetect's noise "
        "threshold); 50 is about one line of code",
    )
    window: int = Field(
        4, ge=1, description="winnowing window; every match of noise + window - 1 is found"
    )
    common_files: int = Field(
        10, ge=2, description="fragments in more than this many submissions are ignored"
    )
    common_fraction: float = Field(
        0.05, ge=0.0, le=1.0, description="... or in more than this fraction of them"
    )
    max_fragments: int = Field(8, ge=1, description="shared fragments shown per pair")
    max_source_bytes: int = Field(100_000, ge=1, description="larger files are not compared")
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="processes tokenising"
    )


class Fragment(BaseModel):
    """One stretch of shared code: where it is in each file (1-based lines) and its text."""

    a_lines: tuple[int, int]
    b_lines: tuple[int, int]
    a_text: str
    b_text: str


class SimilarPair(BaseModel):
    a: str
    b: str
    similarity: float = Field(description="max(a_share, b_share)")
    a_share: float = Field(description="fraction of a's code (beyond the skeleton) found in b")
    b_share: float = Field(description="fraction of b's code found in a")
    fragments: list[Fragment] = Field(default_factory=list)
    a_spans: list[tuple[int, int]] = Field(
        default_factory=list,
        description="every stretch of a's text also in b: [start, end) character offsets, "
        "in order, not overlapping (what the side-by-side page marks)",
    )
    b_spans: list[tuple[int, int]] = Field(
        default_factory=list, description="the same for b's text"
    )


class SimilarityReport(BaseModel):
    threshold: float
    submissions: int = Field(description="submissions compared")
    pairs_compared: int
    not_compared: dict[str, str] = Field(
        default_factory=dict, description="student -> why their file was not compared"
    )
    pairs: list[SimilarPair] = Field(default_factory=list, description="most similar first")


def read_sources(
    files: Iterable[tuple[str, Path]], max_bytes: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Each student's file as text, and why the others could not be compared."""
    sources: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for student, path in files:
        try:
            submission = load_submission(path, max_bytes)
        except GraderError as exc:
            skipped[student] = exc.message
            continue
        if submission.truncated:
            skipped[student] = f"larger than {max_bytes} bytes"
            continue
        try:
            text = submission.raw.decode("utf-8")
        except UnicodeDecodeError:
            skipped[student] = "not UTF-8 text"
            continue
        if not text.strip():
            skipped[student] = "empty"
            continue
        sources[student] = text
    return sources, skipped


def compare_submissions(
    files: Iterable[tuple[str, Path]], settings: SimilaritySettings | None = None
) -> SimilarityReport:
    """Read the files (as text only) and compare every pair; see :func:`find_similar`."""
    settings = settings or SimilaritySettings()
    sources, skipped = read_sources(files, settings.max_source_bytes)
    return compare_sources(sources, skipped, settings)


def compare_sources(
    sources: Mapping[str, str], skipped: Mapping[str, str], settings: SimilaritySettings
) -> SimilarityReport:
    """Compare the texts :func:`read_sources` read, against the course's skeleton."""
    report = find_similar(sources, skeleton_text(), settings)
    report.not_compared.update(skipped)
    return report


def skeleton_text() -> str:
    """The skeleton every student started from (its code is nobody's evidence)."""
    return SKELETON_PATH.read_text(encoding="utf-8")


def find_similar(
    sources: Mapping[str, str], skeleton: str, settings: SimilaritySettings
) -> SimilarityReport:
    """Every pair of ``sources`` (student -> text) whose similarity reaches the threshold."""
    students = sorted(sources)
    skeleton_print = _fingerprint(skeleton, tokenise(skeleton), settings, window=1)
    boilerplate = np.array(sorted(skeleton_print.hashes))
    tokens = _tokenise_all([sources[s] for s in students], settings.workers)
    prints = {
        student: _fingerprint(sources[student], tokenised, settings, boilerplate=boilerplate)
        for student, tokenised in zip(students, tokens, strict=True)
    }
    _drop_common(prints, settings)
    report = SimilarityReport(
        threshold=settings.threshold,
        submissions=len(prints),
        pairs_compared=len(prints) * (len(prints) - 1) // 2,
    )
    names = list(prints)
    for i, j in _candidates([prints[n] for n in names], settings):
        pair = _compare(names[i], names[j], prints[names[i]], prints[names[j]], settings)
        if pair is not None:
            report.pairs.append(pair)
    report.pairs.sort(key=lambda p: (-p.similarity, p.a, p.b))
    return report


def tokenise(text: str) -> tuple[str, Any]:
    """copydetect's tokenising and filtering of one file (the slow part: Pygments)."""
    use_agg()  # copydetect imports pyplot: never let it look for a display
    from copydetect.utils import filter_code

    # The name only tells copydetect the language, which is forced anyway.
    filtered: str
    filtered, offsets = filter_code(text, "submission.py", "python")
    return filtered, offsets


def _tokenise_all(texts: list[str], workers: int) -> list[tuple[str, Any]]:
    """Every file tokenised, on ``workers`` processes for a class (a few files: here)."""
    if workers <= 1 or len(texts) < PARALLEL_FROM:
        return [tokenise(text) for text in texts]
    # spawn, not fork: the caller may hold threads (the batch's pool) and locks.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(tokenise, texts, chunksize=8))


def _fingerprint(
    text: str,
    tokens: tuple[str, Any],
    settings: SimilaritySettings,
    window: int | None = None,
    boilerplate: Any = None,
) -> Any:
    """copydetect's fingerprint of a file whose tokenised form is already known.

    The same object ``CodeFingerprint(file, fp=text)`` builds, without
    tokenising a second time: it fingerprints the filtered text as given, then
    gets back the original text and the offsets that map positions into it.
    """
    from copydetect import CodeFingerprint

    filtered, offsets = tokens
    fp = CodeFingerprint(
        "submission.py",
        settings.noise,
        window or settings.window,
        boilerplate=boilerplate,
        filter=False,
        fp=io.StringIO(filtered),
    )
    fp.raw_code = text
    fp.offsets = offsets
    return fp


def _drop_common(prints: Mapping[str, Any], settings: SimilaritySettings) -> None:
    """Remove fingerprints that too many files share, as boilerplate would be removed.

    This is what copydetect's constructor does with boilerplate fingerprints
    (drop them from the hashes and their positions, then recount the
    coverage), applied afterwards because the common ones are known only once
    every file is fingerprinted.
    """
    from copydetect.utils import get_token_coverage

    limit = max(settings.common_files, math.ceil(settings.common_fraction * len(prints)))
    counts = Counter(h for fp in prints.values() for h in fp.hashes)
    common = {h for h, n in counts.items() if n > limit}
    if not common:
        return
    for fp in prints.values():
        dropped = fp.hashes & common
        if dropped:
            fp.hashes -= dropped
            for h in dropped:
                del fp.hash_idx[h]
            fp.token_coverage = get_token_coverage(fp.hash_idx, fp.k, len(fp.filtered_code))


def _candidates(prints: list[Any], settings: SimilaritySettings) -> Iterator[tuple[int, int]]:
    """The pairs (i < j) that can reach the threshold; every other pair is certainly below it.

    copydetect's share of a file is the length of its shared stretches over
    its coverage, and each position of a shared fingerprint adds at most
    ``noise`` characters to those stretches. So a pair can reach the
    threshold only if, for one of its files, noise x (positions of shared
    fingerprints) >= threshold x coverage. The positions are counted through
    an index from each fingerprint to the files holding it: a pair that
    shares nothing costs nothing, which is what makes 500 files quick.
    """
    holders: dict[int, list[int]] = defaultdict(list)
    for j, fp in enumerate(prints):
        here: Counter[int] = Counter()  # earlier file i -> positions in fp of fingerprints shared
        there: Counter[int] = Counter()  # earlier file i -> positions in i of the same
        for h, positions in fp.hash_idx.items():
            for i in holders[h]:
                here[i] += len(positions)
                there[i] += len(prints[i].hash_idx[h])
            holders[h].append(j)
        needed_here = settings.threshold * fp.token_coverage
        for i in sorted(here):
            needed_there = settings.threshold * prints[i].token_coverage
            if settings.noise * here[i] >= needed_here or settings.noise * there[i] >= needed_there:
                yield i, j


def _compare(a: str, b: str, fa: Any, fb: Any, settings: SimilaritySettings) -> SimilarPair | None:
    from copydetect import compare_files

    _, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
    similarity = max(float(share_a), float(share_b))
    if similarity < settings.threshold:
        return None
    return SimilarPair(
        a=a,
        b=b,
        similarity=round(similarity, 4),
        a_share=round(float(share_a), 4),
        b_share=round(float(share_b), 4),
        fragments=_fragments(fa, fb, slices_a, slices_b, settings.max_fragments),
        a_spans=_spans(slices_a, len(fa.raw_code)),
        b_spans=_spans(slices_b, len(fb.raw_code)),
    )


def _spans(slices: Any, length: int) -> list[tuple[int, int]]:
    """copydetect's slices (2 x N: starts, ends) as sorted, merged [start, end) offsets."""
    if len(slices) == 0 or slices.shape[1] == 0:
        return []
    merged: list[tuple[int, int]] = []
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist(), strict=True)):
        start, end = max(0, min(int(start), length)), max(0, min(int(end), length))
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _raw_positions(fp: Any, positions: np.ndarray) -> np.ndarray:
    """Positions in the tokenised code -> positions in the file (copydetect's own mapping)."""
    offsets = fp.offsets
    if len(offsets) == 0:
        return positions
    index = np.clip(np.searchsorted(offsets[:, 0], positions), 0, offsets.shape[0] - 1)
    return positions + offsets[:, 1][index]


def _fragments(fa: Any, fb: Any, slices_a: Any, slices_b: Any, limit: int) -> list[Fragment]:
    """The longest shared stretches of a, each with the stretch of b it matches.

    copydetect gives the shared stretches of each file separately; a stretch
    of a is paired with the stretch of b that holds most of its fingerprints.
    """
    if len(slices_a) == 0 or slices_a.shape[1] == 0:
        return []
    votes: Counter[tuple[int, int]] = Counter()
    for h in fa.hashes & fb.hashes:
        pos_a = _raw_positions(fa, np.asarray(fa.hash_idx[h]))
        pos_b = _raw_positions(fb, np.asarray(fb.hash_idx[h][:1]))
        slice_b = int(np.searchsorted(slices_b[0], pos_b[0], side="right")) - 1
        for p in pos_a:
            votes[int(np.searchsorted(slices_a[0], p, side="right")) - 1, slice_b] += 1
    partner: dict[int, int] = {}
    for (i, j), _ in votes.most_common():
        partner.setdefault(i, j)
    lengths = slices_a[1] - slices_a[0]
    order = sorted(partner, key=lambda i: -int(lengths[i]))[:limit]
    lines_a, lines_b = _LineIndex(fa.raw_code), _LineIndex(fb.raw_code)
    fragments = []
    for i in sorted(order, key=lambda i: int(slices_a[0][i])):
        j = partner[i]
        a_lines = lines_a.span(int(slices_a[0][i]), int(slices_a[1][i]))
        b_lines = lines_b.span(int(slices_b[0][j]), int(slices_b[1][j]))
        fragments.append(
            Fragment(
                a_lines=a_lines,
                b_lines=b_lines,
                a_text=lines_a.text(*a_lines),
                b_text=lines_b.text(*b_lines),
            )
        )
    return fragments


class _LineIndex:
    """Character offsets -> 1-based line numbers, and lines -> their text (capped)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.starts = [0]
        for line in text.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def line_of(self, offset: int) -> int:
        return max(1, min(bisect.bisect_right(self.starts, offset), len(self.lines)))

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.line_of(start), self.line_of(max(start, end - 1))

    def text(self, first: int, last: int) -> str:
        chosen = self.lines[first - 1 : min(last, first - 1 + FRAGMENT_MAX_LINES)]
        text = "\n".join(chosen)
        if len(text) > FRAGMENT_MAX_CHARS or last - first + 1 > FRAGMENT_MAX_LINES:
            text = text[:FRAGMENT_MAX_CHARS] + "\n..."
        return text
