"""Content-defined blocks of a big JSON list: cut where the bytes say, not where the offset falls.

A next-day export repeats yesterday's list with some rows added at the head and some dropped at the
tail. Blocks cut every 8 MB would all shift by the new rows' bytes, and no block would ever repeat.
Here a block ends at an item separator whose surrounding bytes (``WINDOW`` on each side) hash to a
rare value, so the cuts fall on the same items in both exports and every block between two unchanged
cuts is byte for byte the same: its digest, recorded by the load that read it, lets a later load skip
it unread (``helpers.KnownBlocks``). A change moves at most the cuts around it.

The scan is vectorised (numpy) and costs about as much as reading the list's times, which is what a
skipped block saves many times over; a list that is not one of objects one per line group (no
separator) is one block, as before.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

WINDOW = 64  # bytes each side of a separator's comma that decide whether it is a cut
HIT_BITS = 15  # one separator in 2**15 is a cut: ~5 MB of watch history (~32k items of ~170 bytes)
SCAN_BYTES = 8 << 20  # read at a time by a scan thread
DIGEST_VERSION = b"tiktok-portability blocks 1"  # change it when the rows made of a block change

_WORDS = 2 * WINDOW // 8
_MULTIPLIERS = np.array([(0x9E3779B97F4A7C15 * (2 * i + 1) + 0x632BE59BD9B4E019 * i) % (1 << 64) | 1
                         for i in range(_WORDS)], dtype=np.uint64)
_ALL_WORDS = np.arange(_WORDS, dtype=np.int64)
# the prefilter's words: the last ones before the comma and the first after the separator's brace
# skip the indentation around it, which every separator shares
_PREFILTER_WORDS = np.array([_WORDS // 2 - 4, _WORDS // 2 - 3, _WORDS // 2 + 3, _WORDS // 2 + 4], dtype=np.int64)
_PREFILTER_BITS = 5


def cut_points(read: Callable[[int, int], bytes], length: int, separator: bytes) -> Iterator[int]:
    """Offsets of the separators (their comma) where the content says to cut, in order. ``read(start,
    size)`` reads the list's interior (from any thread). Only the hits are content-defined; the
    shortest and longest block are the caller's (``LazyList._content_spans``).

    Each stretch of ``SCAN_BYTES`` is scanned on its own, two at a time on the scan threads (numpy
    and the reads run without the GIL), a few stretches ahead of the blocks being cut. The scan
    threads are not the block readers': a reader that waits for a scan can never block one."""
    margin = WINDOW + len(separator)

    def scan(low: int) -> np.ndarray:
        begin = max(0, low - margin)
        data = read(begin, min(length, low + SCAN_BYTES + margin) - begin)
        return begin + _hits(data, separator, low - begin, low - begin + SCAN_BYTES)

    pool = _scanners()
    ahead: deque[Future[np.ndarray]] = deque()
    try:
        for low in range(0, length, SCAN_BYTES):
            ahead.append(pool.submit(scan, low))
            if len(ahead) > _SCAN_AHEAD:
                yield from (int(at) for at in ahead.popleft().result())
        while ahead:
            yield from (int(at) for at in ahead.popleft().result())
    finally:
        for future in ahead:
            future.cancel()


_SCAN_AHEAD = 1  # stretches scanned ahead of the one being cut (each ~4x its bytes while scanned)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _scanners() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(2, thread_name_prefix="tiktok-portability-scan")
        return _pool


def _hits(data: bytes, separator: bytes, low: int, high: int) -> np.ndarray:
    """Indices in ``data`` of the commas of ``separator``s in [low, high) whose window hashes to a hit.
    In two rounds, each a hash of unaligned 8-byte words around the comma: a few words first (one
    separator in 2**PREFILTER_BITS passes), then the whole window of the few left."""
    arr = np.frombuffer(data, np.uint8)
    found = np.flatnonzero(arr == separator[-1])
    for back in range(1, len(separator)):
        found = found[found >= back]
        found = found[arr[found - back] == separator[-1 - back]]
    commas = found - (len(separator) - 1)
    commas = commas[(commas >= max(low, WINDOW)) & (commas < high) & (commas + WINDOW <= len(arr))]
    first = commas[_top_bits(_window_hash(data, commas - WINDOW, _PREFILTER_WORDS), _PREFILTER_BITS) == 0]
    return first[_top_bits(_window_hash(data, first - WINDOW, _ALL_WORDS), HIT_BITS - _PREFILTER_BITS) == 0]


def _window_hash(data: bytes, starts: np.ndarray, words_at: np.ndarray) -> np.ndarray:
    """A mixed hash of the 8-byte words at ``starts + 8 * words_at`` (little-endian: the same everywhere)."""
    hashes = np.zeros(len(starts), np.uint64)
    for align in range(8):  # unaligned words, read through one view per alignment
        chosen = np.flatnonzero(starts % 8 == align)
        if not len(chosen):
            continue
        words = np.frombuffer(data, "<u8", count=(len(data) - align) // 8, offset=align)
        index = ((starts[chosen] - align) // 8)[:, None] + words_at
        hashes[chosen] = (words[index] * _MULTIPLIERS[words_at]).sum(axis=1, dtype=np.uint64)
    hashes ^= hashes >> np.uint64(31)
    hashes *= np.uint64(0xBF58476D1CE4E5B9)
    hashes ^= hashes >> np.uint64(29)
    return hashes


def _top_bits(hashes: np.ndarray, bits: int) -> np.ndarray:
    return hashes >> np.uint64(64 - bits)


def block_digest(context: str, block: bytes) -> str:
    """What identifies a block's rows: its bytes, and what else goes into them (``context``: the table
    and the section's constants, such as a DM thread's partner)."""
    digest = hashlib.sha256(DIGEST_VERSION + b"\x00" + context.encode() + b"\x00")  # ~1.7 GB/s (SHA-NI)
    digest.update(block)
    return digest.hexdigest()[:32]
