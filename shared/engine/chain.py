"""Which candidate trades are actually taken: the chain entry -> exit -> next candidate entry.

Because a candidate's exit does not depend on earlier trades (see `exits`), the trade sequence is
fully described by one pointer per candidate: the first candidate that can fill after its exit.
Entry rules are evaluated only at closes where the position is flat; a position that exits during
bar x (at its open or intrabar) is flat at x's close, so an entry signal at bar x fills at x+1 —
the next candidate is the first one whose fill bar is greater than x.

Chains started from different candidates merge: once two chains reach the same candidate they are
identical from there on. Chunked execution relies on this: a chunk computes its
candidates, exits and its own chain; whatever state the previous chunk hands over only decides
where the chain starts, and following the pointers from there soon lands on a candidate of the
chunk's own chain, after which the chunk's precomputed trades are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def next_candidates(fill_bar: NDArray[Any], exit_bar: NDArray[Any]) -> NDArray[Any]:
    """For each candidate, the index of the first candidate filling after its exit bar
    (len(fill_bar) when there is none). Always greater than the candidate's own index."""
    return np.searchsorted(fill_bar, exit_bar, side="right")


def follow_chain(next_index: NDArray[Any], start: int = 0) -> NDArray[Any]:
    """Indices of the candidates taken, starting with `start` and following `next_index`.

    Costs O(len(result)) Python steps at worst, with a vectorised shortcut for the common case of
    strategies whose trades never overlap a later entry signal (every candidate is taken).
    """
    count = len(next_index)
    if start >= count:
        return np.empty(0, dtype=np.intp)
    if np.array_equal(next_index[start:], np.arange(start + 1, count + 1)):
        return np.arange(start, count)
    pointers = next_index.tolist()
    taken = []
    position = start
    while position < count:
        taken.append(position)
        position = pointers[position]
    return np.array(taken, dtype=np.intp)
