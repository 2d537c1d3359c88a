"""The engine's memory planner: no two live tensors share a byte, peak >= lower bound, known optima reached."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from edgeq.engine.lowering import lower_model
from edgeq.engine.planner import Block, lower_bound, plan_blocks
from edgeq.engine.storage import plan_storage


def _random_blocks(rng: random.Random, n: int, steps: int = 8) -> list[Block]:
    blocks = []
    for k in range(n):
        first = rng.randint(0, steps - 1)
        blocks.append(Block(f"b{k}", rng.choice([1, 4, 6, 8, 12, 16, 20, 24, 32, 100]), first,
                            rng.randint(first, steps)))
    return blocks


def _assert_valid(blocks: list[Block], plan) -> None:
    """Independent of the planner's own check: pairwise, by brute force over steps and bytes."""
    for a, b in itertools.combinations(blocks, 2):
        live_together = not (a.last < b.first or b.last < a.first)
        oa, ob = plan.offsets[a.key], plan.offsets[b.key]
        sa, sb = plan.sizes[a.key], plan.sizes[b.key]
        assert sa >= a.size and sb >= b.size
        if live_together:
            assert oa + sa <= ob or ob + sb <= oa, f"{a} at {oa} overlaps {b} at {ob}"
    assert plan.peak == max((plan.offsets[b.key] + plan.sizes[b.key] for b in blocks), default=0)
    assert all(plan.offsets[b.key] % 4 == 0 for b in blocks)


def test_random_plans_are_valid_and_never_worse_than_greedy_by_size():
    rng = random.Random(5)
    for _ in range(300):
        blocks = _random_blocks(rng, rng.randint(1, 30))
        plan = plan_blocks(blocks)
        _assert_valid(blocks, plan)
        assert plan.peak >= plan.lower_bound == lower_bound([Block(b.key, -(-b.size // 4) * 4, b.first, b.last)
                                                              for b in blocks])
        assert plan.peak <= plan.greedy_by_size_peak


def test_lower_bound_counts_blocks_alive_at_their_last_step():
    # `last` is inclusive: a tensor read by the op at step 3 is alive with the one that op writes.
    assert lower_bound([Block("in", 10, 0, 3), Block("out", 20, 3, 5)]) == 30
    assert lower_bound([Block("in", 10, 0, 2), Block("out", 20, 3, 5)]) == 20
    assert lower_bound([Block("a", 8, 1, 1), Block("b", 4, 1, 1), Block("c", 16, 0, 0)]) == 16
    assert lower_bound([]) == 0


def test_known_graph_where_greedy_by_size_misses_the_optimum():
    # TFLM's greedy-by-size order places the 32-byte block first at 0 and ends at 80 bytes; 76 is possible
    # (and optimal: it is the lower bound, the bytes alive at step 2).
    blocks = [Block("b0", 20, 0, 3), Block("b1", 20, 1, 5), Block("b2", 24, 2, 4), Block("b3", 4, 2, 4),
              Block("b4", 32, 0, 0), Block("b5", 8, 0, 3)]
    plan = plan_blocks(blocks)
    _assert_valid(blocks, plan)
    assert plan.greedy_by_size_peak == 80
    assert plan.peak == plan.lower_bound == 76


def _random_overlaps(rng: random.Random, n: int, steps: int = 8) -> tuple[list[Block], dict]:
    """Random blocks plus pairs (an op's output starting where its input ends) allowed to overlap by a
    random distance, as Lowered.overlap produces them."""
    blocks = _random_blocks(rng, n, steps)
    overlaps = {}
    for k in range(rng.randint(1, 4)):
        t = rng.randint(0, steps - 1)
        size_in, size_out = rng.choice([8, 16, 40, 64]), rng.choice([8, 16, 40, 64])
        inp = Block(f"in{k}", size_in, rng.randint(0, t), t)
        out = Block(f"out{k}", size_out, t, rng.randint(t, steps))
        blocks += [inp, out]
        overlaps[(out.key, inp.key)] = rng.randint(-size_in, size_out)
    return blocks, overlaps


def test_plans_with_overlaps_keep_every_other_pair_apart():
    rng = random.Random(8)
    taken = 0
    for _ in range(300):
        blocks, overlaps = _random_overlaps(rng, rng.randint(0, 12))
        plan = plan_blocks(blocks, overlaps=overlaps)
        by_key = {b.key: b for b in blocks}
        for a, b in itertools.combinations(blocks, 2):
            oa, ob, sa, sb = plan.offsets[a.key], plan.offsets[b.key], plan.sizes[a.key], plan.sizes[b.key]
            if a.last < b.first or b.last < a.first or oa + sa <= ob or ob + sb <= oa:
                continue
            pair = (a.key, b.key) if (a.key, b.key) in overlaps else (b.key, a.key)
            assert pair in overlaps, f"{a} at {oa} overlaps {b} at {ob}"
            out, inp = pair
            # The output starts at least the (rounded up) distance before the input it runs over.
            assert plan.offsets[out] <= plan.offsets[inp] - -(-overlaps[pair] // 4) * 4, (pair, overlaps[pair])
            taken += 1
        assert all(plan.offsets[b.key] % 4 == 0 for b in blocks)
        assert plan.peak == max((plan.offsets[b.key] + plan.sizes[b.key] for b in blocks), default=0)
        assert plan.peak >= plan.lower_bound
        assert plan.lower_bound <= lower_bound([Block(b.key, -(-b.size // 4) * 4, b.first, b.last)
                                                for b in by_key.values()])
    assert taken > 100  # the planner does use the overlaps


def test_a_chain_of_overlapping_ops_is_laid_out_from_its_end():
    # Four ops each writing a 100-byte output 12 bytes before its 100-byte input: 100 + 3 * 12 bytes in all.
    blocks = [Block(f"t{k}", 100, k, k + 1) for k in range(4)]
    overlaps = {(f"t{k + 1}", f"t{k}"): 12 for k in range(3)}
    plan = plan_blocks(blocks, overlaps=overlaps)
    assert plan.peak == 136 and plan.lower_bound == 112
    assert [plan.offsets[f"t{k}"] for k in range(4)] == [36, 24, 12, 0]


def _exhaustive_optimum(blocks: list[Block]) -> int:
    """Best lowest-fit placement over every order: optimal (placing the blocks of an optimal layout in
    order of offset at their lowest fit never raises an offset)."""
    best = None
    for order in itertools.permutations(range(len(blocks))):
        placed: list[tuple[int, int, Block]] = []
        for i in order:
            b = blocks[i]
            offset = 0
            for start, size, other in sorted(placed, key=lambda p: p[0]):
                if not (other.last < b.first or b.last < other.first):
                    if offset + b.size <= start:
                        break
                    offset = max(offset, start + size)
            placed.append((offset, b.size, b))
        peak = max(o + s for o, s, _ in placed)
        best = peak if best is None else min(best, peak)
    return best


def test_small_graphs_reach_the_exhaustive_optimum():
    rng = random.Random(11)
    for _ in range(40):
        blocks = [Block(b.key, -(-b.size // 4) * 4, b.first, b.last) for b in _random_blocks(rng, 6, steps=5)]
        assert plan_blocks(blocks).peak == _exhaustive_optimum(blocks)


def _simulate(model, lowered, storage) -> None:
    """Run the plan symbolically: every op's writes claim their arena bytes; every read must find its
    tensor's bytes still holding that tensor (or the tensor it is a free reshape of)."""
    owner = np.full(max(storage.plan.peak, 1), -1, dtype=np.int64)
    value: dict[int, int] = {}

    def canonical(t: int) -> int:
        while t in value:
            t = value[t]
        return t

    tensors = model.main.tensors
    for step, (op, low) in enumerate(lowered):
        if low.alias_of is not None:
            value[op.outputs[0]] = low.alias_of
            continue
        reads = [t for t in op.inputs if t >= 0 and storage.locations.get(t, None) is not None
                 and storage.locations[t].kind == "arena"]
        for t in reads:
            start = storage.locations[t].value
            held = owner[start:start + tensors[t].nbytes]
            assert (held == canonical(t)).all(), f"op {op.index} reads tensor {t}, but its bytes were overwritten"
        written = [t for t in op.outputs if storage.locations[t].kind == "arena"]
        if step in storage.scratch:
            # Scratch is in use while the op reads its inputs and writes its outputs.
            s0, s1 = storage.scratch[step], storage.scratch[step] + low.scratch_bytes
            for t in reads + written:
                t0 = storage.locations[t].value
                assert s1 <= t0 or t0 + tensors[t].nbytes <= s0, f"op {op.index} scratch overlaps tensor {t}"
        for t in written:
            start = storage.locations[t].value
            owner[start:start + tensors[t].nbytes] = canonical(t)


@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp"])
@pytest.mark.parametrize("name", ["digits_int8", "digits_uint8", "resnet_style", "dw_separable"])
def test_storage_plan_keeps_every_live_tensor_intact(engine_models, name, dsp):
    model = engine_models[name]
    lowered = lower_model(model, dsp=dsp)
    storage = plan_storage(model.main, lowered)
    _simulate(model, lowered, storage)
    assert storage.plan.peak >= storage.plan.lower_bound


def test_scratch_buffers_are_planned_with_the_tensors(engine_models):
    model = engine_models["resnet_style"]
    lowered = lower_model(model)
    baseline = plan_storage(model.main, lower_model(model)).plan
    busiest = max(range(len(lowered)), key=lambda s: sum(model.main.tensors[t].nbytes
                                                         for t in lowered[s][0].outputs))
    lowered[busiest][1].scratch_bytes = 1000
    storage = plan_storage(model.main, lowered)
    assert busiest in storage.scratch
    produced = sum(model.main.tensors[t].nbytes for t in lowered[busiest][0].outputs)
    assert storage.plan.lower_bound >= max(baseline.lower_bound, produced + 1000)
    assert storage.scratch[busiest] + 1000 <= storage.plan.peak
    _simulate(model, lowered, storage)
