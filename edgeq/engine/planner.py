"""Static memory planning: offsets for every arena buffer so that buffers alive at the same time never
overlap, with the smallest peak we can find.

A buffer lives over an inclusive range of execution steps. Two buffers conflict when their ranges
intersect. The problem (dynamic storage allocation) is NP-hard, but one fact makes a good search easy:
placing buffers one by one at the lowest offset free of already-placed conflicting buffers ("lowest
fit"), in the order of their offsets in an optimal layout, reproduces a layout at least as good. So
the planner searches over *orders*: several greedy orders first (TFLM's greedy-by-size among them),
then an exact branch and bound for small graphs, or a seeded local search for large ones. The lower
bound (the most bytes alive at any single step) tells when to stop.

An operator whose kernel writes its output behind its reads may have its output overlap its dying input:
`overlaps[(out, in)] = d` lets block `out` start anywhere up to `d` bytes before block `in` (out's offset
<= in's offset - d), besides lying wholly clear of it. The two share exactly one step, the operator's.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from edgeq.errors import EmitError

_BUG = "an edgeq bug: use --runtime tflm for this model and report it"

DEFAULT_ALIGNMENT = 4
_EXACT_LIMIT = 12          # buffers up to which branch and bound is tried
_EXACT_NODE_BUDGET = 200_000
_LOCAL_SEARCH_ROUNDS = 400
_SEED = 1729


@dataclass(frozen=True)
class Block:
    """A buffer to place: `size` bytes alive from step `first` to step `last` (inclusive)."""

    key: Hashable
    size: int
    first: int
    last: int

    def overlaps(self, other: Block) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Plan:
    """Offsets per block key, the arena size they need, and the lower bound for comparison."""

    offsets: dict[Hashable, int]
    sizes: dict[Hashable, int]
    peak: int
    lower_bound: int
    strategy: str
    greedy_by_size_peak: int


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


Overlaps = Mapping[tuple[Hashable, Hashable], int]


def lower_bound(blocks: Sequence[Block], overlaps: Overlaps | None = None) -> int:
    """The most bytes alive at any one step, less what an allowed overlap can save there: no layout can need
    less."""
    if not blocks:
        return 0
    by_key = {b.key: b for b in blocks}
    saving: dict[int, int] = {}
    for (out, inp), d in (overlaps or {}).items():
        a, b = by_key[out], by_key[inp]
        for t in range(max(a.first, b.first), min(a.last, b.last) + 1):
            saving[t] = saving.get(t, 0) + max(0, min(b.size, a.size - d))
    steps = sorted({b.first for b in blocks} | set(saving))
    return max(sum(b.size for b in blocks if b.first <= t <= b.last) - saving.get(t, 0) for t in steps)


def _occupied(i: int, j: int, offset_j: int, blocks: Sequence[Block], allowed: dict[tuple[int, int], int]
              ) -> tuple[int, int]:
    """(start, end): where placed block j keeps block i from; i fits at x when x + size_i <= start or x >= end."""
    size_j = blocks[j].size
    if (i, j) in allowed:  # i is the output that may run over input j, ending before its first unread byte
        return offset_j - allowed[(i, j)] + blocks[i].size, offset_j + size_j
    if (j, i) in allowed:  # i is the input: it may start d bytes into output j
        return offset_j, offset_j + allowed[(j, i)]
    return offset_j, offset_j + size_j


def _place(order: Sequence[int], blocks: Sequence[Block], conflicts: list[list[int]],
           allowed: dict[tuple[int, int], int], best_fit: bool = False) -> tuple[list[int], int]:
    """Offsets for the blocks placed in `order` (lowest fit, or the tightest gap with best_fit)."""
    offsets = [-1] * len(blocks)
    peak = 0
    for i in order:
        size = blocks[i].size
        placed = _intervals(i, conflicts, offsets, blocks, allowed)
        chosen, chosen_gap, cursor = -1, None, 0
        for start, length in placed:
            gap = start - cursor
            if gap >= size:
                if not best_fit:
                    chosen = cursor
                    break
                if chosen_gap is None or gap < chosen_gap:
                    chosen, chosen_gap = cursor, gap
            cursor = max(cursor, start + length)
        if chosen < 0:
            chosen = cursor
        offsets[i] = chosen
        peak = max(peak, chosen + size)
    return offsets, peak


def _greedy_orders(blocks: Sequence[Block]) -> dict[str, list[int]]:
    index = range(len(blocks))
    keys: dict[str, Callable[[int], tuple]] = {
        "greedy-by-size": lambda i: (-blocks[i].size, blocks[i].first, i),
        "size-x-lifetime": lambda i: (-blocks[i].size * (blocks[i].last - blocks[i].first + 1), i),
        "longest-lifetime": lambda i: (-(blocks[i].last - blocks[i].first), -blocks[i].size, i),
        "first-use": lambda i: (blocks[i].first, -blocks[i].size, i),
        # Outputs that run over their inputs sit below them: a chain of such ops is laid out from its end.
        "last-first": lambda i: (-blocks[i].first, -blocks[i].size, i),
        # The same with the one-step blocks (kernel scratch) last, into the gaps the chain leaves.
        "last-first/scratch-last": lambda i: (blocks[i].first == blocks[i].last, -blocks[i].first, -blocks[i].size, i),
    }
    return {name: sorted(index, key=key) for name, key in keys.items()}


def _intervals(i: int, conflicts: list[list[int]], offsets: Sequence[int], blocks: Sequence[Block],
               allowed: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    """(start, length) of what the placed blocks conflicting with i occupy for it, by start. i may go at x
    when x + size_i <= start or x >= start + length; an allowed overlap can make length negative (a forbidden
    range shorter than i), and an empty forbidden range drops out."""
    size = blocks[i].size
    spans = (_occupied(i, j, offsets[j], blocks, allowed) for j in conflicts[i] if offsets[j] >= 0)
    return sorted((start, end - start) for start, end in spans if end > start - size)


def plan_blocks(blocks: Sequence[Block], alignment: int = DEFAULT_ALIGNMENT, overlaps: Overlaps | None = None) -> Plan:
    """Place `blocks` in one arena; every size and offset is a multiple of `alignment` (an overlap's distance
    is rounded up to one)."""
    aligned = [Block(b.key, align_up(max(b.size, 1), alignment), b.first, b.last) for b in blocks]
    if len({b.key for b in aligned}) != len(aligned):
        raise EmitError(f"compiled-C engine memory plan: block keys must be unique ({_BUG})")
    index = {b.key: i for i, b in enumerate(aligned)}
    allowed = {(index[out], index[inp]): align_up(d, alignment) for (out, inp), d in (overlaps or {}).items()}
    for (out, inp) in allowed:
        if not aligned[out].overlaps(aligned[inp]):
            raise EmitError(f"compiled-C engine memory plan: overlap allowed between {aligned[out].key!r} and "
                            f"{aligned[inp].key!r}, which are never alive together ({_BUG})")
    bound = lower_bound(aligned, {(aligned[o].key, aligned[i].key): d for (o, i), d in allowed.items()})
    n = len(aligned)
    conflicts = [[j for j in range(n) if j != i and aligned[i].overlaps(aligned[j])] for i in range(n)]

    best_offsets: list[int] = []
    best_peak, best_name, greedy_peak = -1, "empty", 0
    for name, order in _greedy_orders(aligned).items():
        for best_fit in (False, True):
            offsets, peak = _place(order, aligned, conflicts, allowed, best_fit)
            if name == "greedy-by-size" and not best_fit:
                greedy_peak = peak
            if best_peak < 0 or peak < best_peak:
                best_offsets, best_peak = offsets, peak
                best_name = name + ("/best-fit" if best_fit else "")
    if n and best_peak > bound:
        if n <= _EXACT_LIMIT:
            found = _branch_and_bound(aligned, conflicts, allowed, best_peak, bound)
            if found is not None:
                best_offsets, best_peak = found
                best_name = "branch-and-bound"
        else:
            found = _local_search(aligned, conflicts, allowed, best_peak, bound)
            if found is not None:
                best_offsets, best_peak = found
                best_name = "local-search"
    sizes = {b.key: b.size for b in aligned}
    offsets = {b.key: best_offsets[i] for i, b in enumerate(aligned)}
    _check(aligned, best_offsets, allowed)
    return Plan(offsets=offsets, sizes=sizes, peak=max(best_peak, 0), lower_bound=bound,
                strategy=best_name, greedy_by_size_peak=greedy_peak)


def _branch_and_bound(blocks: Sequence[Block], conflicts: list[list[int]], allowed: dict[tuple[int, int], int],
                      incumbent: int, bound: int) -> tuple[list[int], int] | None:
    """Depth-first search over placement orders (lowest fit), pruned by the incumbent peak."""
    n = len(blocks)
    offsets = [-1] * n
    best: list[tuple[list[int], int] | None] = [None]
    best_peak = [incumbent]
    nodes = [0]

    def lowest_fit(i: int) -> int:
        cursor = 0
        for start, length in _intervals(i, conflicts, offsets, blocks, allowed):
            if start - cursor >= blocks[i].size:
                break
            cursor = max(cursor, start + length)
        return cursor

    def search(remaining: list[int], peak: int) -> None:
        if best_peak[0] <= bound or nodes[0] > _EXACT_NODE_BUDGET:
            return
        if not remaining:
            best[0], best_peak[0] = (list(offsets), peak), peak
            return
        tried: set[tuple[int, int, int, int]] = set()
        for i in sorted(remaining, key=lambda k: -blocks[k].size):
            nodes[0] += 1
            offset = lowest_fit(i)
            top = max(peak, offset + blocks[i].size)
            # Interchangeable blocks (same size and lifetime) at the same offset give the same subtree.
            signature = (offset, blocks[i].size, blocks[i].first, blocks[i].last)
            if top >= best_peak[0] or signature in tried:
                continue
            tried.add(signature)
            offsets[i] = offset
            search([k for k in remaining if k != i], top)
            offsets[i] = -1

    search(list(range(n)), 0)
    return best[0]


def _local_search(blocks: Sequence[Block], conflicts: list[list[int]], allowed: dict[tuple[int, int], int],
                  incumbent: int, bound: int) -> tuple[list[int], int] | None:
    """Seeded hill climbing over orders: move one block earlier, keep the change if the peak drops."""
    rng = random.Random(_SEED)
    order = sorted(range(len(blocks)), key=lambda i: (-blocks[i].size, blocks[i].first, i))
    offsets, peak = _place(order, blocks, conflicts, allowed)
    best: tuple[list[int], int] | None = None
    for _ in range(_LOCAL_SEARCH_ROUNDS):
        if peak <= bound:
            break
        i, j = sorted(rng.sample(range(len(order)), 2))
        candidate = order[:i] + [order[j]] + order[i:j] + order[j + 1:]
        cand_offsets, cand_peak = _place(candidate, blocks, conflicts, allowed)
        if cand_peak <= peak:
            order, offsets, peak = candidate, cand_offsets, cand_peak
            if peak < incumbent:
                best, incumbent = (offsets, peak), peak
    return best


def _check(blocks: Sequence[Block], offsets: Sequence[int], allowed: dict[tuple[int, int], int]) -> None:
    """The planner's invariant: no two buffers alive at the same step share a byte, except an output that
    starts at least its allowed distance before the input it may run over."""
    for i, a in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            b = blocks[j]
            if not (a.overlaps(b) and offsets[i] < offsets[j] + b.size and offsets[j] < offsets[i] + a.size):
                continue
            if (i, j) in allowed and offsets[i] <= offsets[j] - allowed[(i, j)]:
                continue
            if (j, i) in allowed and offsets[j] <= offsets[i] - allowed[(j, i)]:
                continue
            raise EmitError(f"compiled-C engine memory plan: buffers {a.key!r} and {b.key!r} overlap while both are "
                            f"alive ({_BUG})")
