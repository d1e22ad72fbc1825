"""A compact set of keys: 8 bytes a key, for "might the store hold this key?".

The worker keeps 2.4 M waiting-list contact keys at national scale; as Python strings in a set that is
~200 MB, as sorted 64-bit digests in a numpy array 19 MB. A digest collision only answers "maybe" for a
key the store lacks, which costs one needless read of the store — never a wrong state, because the store
is asked and its answer is what counts. "No" is always right: every key added is in the array or the
recent set.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np


def digest(key: str) -> int:
    # blake2b, not hash(): the same digest in every process, so a test can rebuild and compare.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


class KeySet:
    __slots__ = ("_sorted", "_recent", "merge_at", "_asked")

    def __init__(self, merge_at: int = 100_000):
        self._sorted = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()  # added since the last merge into the array
        self.merge_at = merge_at
        # The digests of the keys last asked about: a batch asks about its new keys, then adds them
        # (0.5 µs a digest, twice per new contact otherwise). Cleared by add: a batch's worth at most.
        self._asked: dict[str, int] = {}

    def __len__(self):
        return len(self._sorted) + len(self._recent)

    def add(self, keys: Iterable[str]):
        asked = self._asked
        self._recent.update(asked[k] if k in asked else digest(k) for k in keys)
        self._asked = {}
        if len(self._recent) >= self.merge_at:
            self._merge()

    def _merge(self):
        fresh = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
        self._sorted = np.union1d(self._sorted, fresh)
        self._recent = set()

    def maybe(self, keys: list[str]) -> list[str]:
        """The keys that may be in the set (all that are, and rarely one that is not)."""
        if not keys:
            return []
        ds = [digest(k) for k in keys]
        self._asked = dict(zip(keys, ds))
        arr = np.fromiter(ds, dtype=np.uint64, count=len(ds))
        pos = np.searchsorted(self._sorted, arr)
        pos[pos == len(self._sorted)] = 0
        in_sorted = (self._sorted[pos] == arr) if len(self._sorted) else np.zeros(len(arr), dtype=bool)
        return [k for k, d, hit in zip(keys, ds, in_sorted.tolist()) if hit or d in self._recent]
