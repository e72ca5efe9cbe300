"""Per-image work computed once: the reason a second click answers faster than the first.

An :class:`AssistSession` holds one image and memoises what the methods derive from it (the reduced
working image, superpixels and their graph, the colour palette, SAM image embeddings). ``counts`` says how
often each expensive step actually ran, which is how tests check caching without timing anything.

:func:`session_for` keeps the last few sessions in a small LRU keyed by an image id or, failing that, a
hash of the pixels, so callers that pass only the image (the stateless API) still hit the cache.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import cv2
import numpy as np

from seglab.assist.prompts import check_image
from seglab.core.conventions import ImageSize

T = TypeVar("T")

#: Pixels of the reduced image the classical methods work on (about 566 x 566); big enough for object
#: boundaries a few pixels off at most, small enough for superpixels and graph cuts in well under a second.
WORK_PIXELS = 320_000


def image_key(image: np.ndarray) -> str:
    """A content hash of the pixels and shape: two equal images share a cache entry."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(image.shape).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


class AssistSession:
    """One image and everything derived from it, computed lazily and at most once each.

    Thread-safe: the API may serve two clicks on one image at once, and the second waits for the first's
    superpixels rather than computing them again.
    """

    def __init__(self, image: np.ndarray, *, key: str | None = None, work_pixels: int = WORK_PIXELS) -> None:
        self.image = check_image(image)
        self.image.setflags(write=False)
        self.size = ImageSize.from_shape(self.image.shape)
        self.key = key if key is not None else image_key(self.image)
        self.work_pixels = int(work_pixels)
        #: A SAM-style backend (:class:`seglab.assist.onnx_sam.OnnxSam`) to use for this image, if any.
        self.sam: Any = None
        #: How many times each expensive step ran (a cache hit adds nothing).
        self.counts: Counter[str] = Counter()
        self._memo: dict[str, Any] = {}
        self._last: dict[str, tuple[np.ndarray, Any]] = {}
        self._lock = threading.RLock()

    def cached(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` the first time ``name`` is asked for, the stored value afterwards."""
        with self._lock:
            if name not in self._memo:
                self._memo[name] = compute()
                self.counts[name] += 1
            return self._memo[name]

    def slot(self, name: str, make: Callable[[], T]) -> T:
        """A mutable per-image store (the zoom's crops), made on first use; not counted, it costs nothing."""
        with self._lock:
            return self._memo.setdefault(name, make())

    def has(self, name: str) -> bool:
        """Whether ``name`` is computed already (to skip work that would only fill it)."""
        with self._lock:
            return name in self._memo

    def remember(self, name: str, answer: np.ndarray, state: Any) -> None:
        """Keep a method's internal state behind the mask it just answered (SAM's low-res logits)."""
        with self._lock:
            self._last[name] = (np.array(answer, dtype=bool), state)

    def recall(self, name: str, previous: np.ndarray | None) -> Any:
        """The state remembered with ``previous`` if that is the method's last answer, else None."""
        with self._lock:
            last = self._last.get(name)
        if last is None or previous is None or not np.array_equal(last[0], previous):
            return None
        return last[1]

    def forget(self, name: str) -> None:
        with self._lock:
            self._memo.pop(name, None)

    @property
    def work_scale(self) -> float:
        """Factor from full-resolution coordinates to the working image's (1.0 for small images)."""
        return min(1.0, float(np.sqrt(self.work_pixels / self.size.area)))

    @property
    def work_size(self) -> ImageSize:
        s = self.work_scale
        return ImageSize(max(2, round(self.size.width * s)), max(2, round(self.size.height * s)))

    @property
    def work_image(self) -> np.ndarray:
        """The image reduced to about ``work_pixels`` (area averaging), RGB uint8."""

        def compute() -> np.ndarray:
            size = self.work_size
            if size == self.size:
                return self.image
            return cv2.resize(self.image, (size.width, size.height), interpolation=cv2.INTER_AREA)

        return self.cached("work_image", compute)


class SessionCache:
    """A small LRU of sessions; the key is the caller's image id or the pixel hash."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, AssistSession] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, image: np.ndarray, key: str | None = None) -> AssistSession:
        image = check_image(image)
        k = key if key is not None else image_key(image)
        with self._lock:
            session = self._items.get(k)
            if session is not None and session.image.shape == image.shape:
                self._items.move_to_end(k)
                self.hits += 1
                return session
            self.misses += 1
            session = AssistSession(image, key=k)
            self._items[k] = session
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return session

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


#: The process-wide cache used when ``segment`` is called without a session.
SESSIONS = SessionCache()


def session_for(image: np.ndarray, key: str | None = None) -> AssistSession:
    """The cached session of this image (by ``key`` when given, else by pixel hash), created on a miss."""
    return SESSIONS.get(image, key)
