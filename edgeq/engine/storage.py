"""Where every tensor lives: the caller's input/output buffers, a const array, or an arena offset.

Tensors that share bytes form one storage group: a RESHAPE output with its input (free reshape), and an
element-wise op's output with an input that dies at that op (in place). A group holding a model input
reads the caller's input buffer; one holding a model output is computed straight into the caller's
output buffer; the rest are arena buffers whose lifetimes over the execution order go to the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgeq.engine.ir import KernelCall, LiteralArg, Lowered, TensorArg
from edgeq.engine.planner import Block, Plan, plan_blocks
from edgeq.tflite import Operator, Subgraph


@dataclass(frozen=True)
class Location:
    """kind: 'arena' (value = byte offset), 'input'/'output' (value = I/O index), 'const' (value =
    tensor index of the constant that holds the bytes)."""

    kind: str
    value: int


@dataclass
class StoragePlan:
    locations: dict[int, Location]
    plan: Plan
    scratch: dict[int, int]                   # op position -> arena offset
    final_copies: list[KernelCall] = field(default_factory=list)
    inplace_ops: list[int] = field(default_factory=list)
    aliases: int = 0


class _Groups:
    """Union-find over tensor indices."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, t: int) -> int:
        self.parent.setdefault(t, t)
        while self.parent[t] != t:
            self.parent[t] = self.parent[self.parent[t]]
            t = self.parent[t]
        return t

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)

    def members(self, t: int) -> list[int]:
        root = self.find(t)
        return [m for m in list(self.parent) if self.find(m) == root]


def _copy_call(dst: int, src: int, nbytes: int) -> KernelCall:
    return KernelCall("memcpy", (TensorArg(dst, "void", writable=True), TensorArg(src, "void"),
                                 LiteralArg(str(nbytes))))


def plan_storage(subgraph: Subgraph, lowered: list[tuple[Operator, Lowered]], alignment: int = 4,
                 inplace: bool = True) -> StoragePlan:
    """Group, place and plan every tensor the generated code touches. Mutates `lowered` where a free
    reshape cannot alias (model input to model output): it becomes a copy."""
    tensors = subgraph.tensors
    graph_inputs = {t: k for k, t in reversed(list(enumerate(subgraph.inputs)))}
    graph_outputs = {t: k for k, t in reversed(list(enumerate(subgraph.outputs)))}
    producer: dict[int, int] = {}
    last_use: dict[int, int] = {}
    for step, (op, _) in enumerate(lowered):
        for t in op.inputs:
            if t >= 0:
                last_use[t] = step
        for t in op.outputs:
            producer.setdefault(t, step)

    groups = _Groups()
    for t in range(len(tensors)):
        groups.find(t)

    def pinned(root_member: int) -> bool:
        """A group that must keep its own bytes: caller input, constant or a model output."""
        return any(m in graph_inputs or tensors[m].is_constant or m in graph_outputs
                   for m in groups.members(root_member))

    inplace_ops, aliases = [], 0
    for step, (op, low) in enumerate(lowered):
        out = op.outputs[0] if op.outputs else -1
        if low.alias_of is not None:
            src = low.alias_of
            if out in graph_outputs and pinned(src):
                low.calls = [_copy_call(out, src, tensors[out].nbytes)]
                low.alias_of = None
            else:
                groups.union(src, out)
                aliases += 1
            continue
        src = low.inplace_input
        if not inplace or src is None or out < 0:
            continue
        members = groups.members(src)
        others = [t for t in op.inputs if t >= 0 and t != src]
        if (tensors[src].nbytes == tensors[out].nbytes and not pinned(src)
                and all(last_use.get(m, producer.get(m, -1)) <= step for m in members)
                and not any(groups.find(t) == groups.find(src) for t in others)):
            groups.union(src, out)
            inplace_ops.append(op.index)

    used = set(producer) | set(last_use) | set(subgraph.outputs)
    roots: dict[int, list[int]] = {}
    for t in sorted(used):
        roots.setdefault(groups.find(t), []).append(t)

    locations: dict[int, Location] = {}
    blocks: list[Block] = []
    for root, members in roots.items():
        everyone = groups.members(root)
        location = _pinned_location(everyone, graph_inputs, graph_outputs, tensors)
        if location is None:
            first = min(producer.get(m, 0) for m in everyone)
            last = max(max(last_use.get(m, -1), producer.get(m, -1)) for m in everyone)
            size = max(tensors[m].nbytes for m in everyone)
            blocks.append(Block(("tensor", root), size, first, last))
        for m in members:
            if location is not None:
                locations[m] = location
    scratch_keys = []
    for step, (_, low) in enumerate(lowered):
        if low.scratch_bytes > 0:
            blocks.append(Block(("scratch", step), low.scratch_bytes, step, step))
            scratch_keys.append(step)
    overlaps = _overlaps(lowered, groups, blocks) if inplace else {}
    plan = plan_blocks(blocks, alignment, overlaps)
    for root, members in roots.items():
        key = ("tensor", root)
        if key in plan.offsets:
            for m in members:
                locations[m] = Location("arena", plan.offsets[key])
    scratch = {step: plan.offsets[("scratch", step)] for step in scratch_keys}

    final_copies = []
    for k, t in enumerate(subgraph.outputs):
        if locations.get(t) != Location("output", k):
            final_copies.append(KernelCall("memcpy", (LiteralArg(f"outputs[{k}]"), TensorArg(t, "void"),
                                                      LiteralArg(str(tensors[t].nbytes)))))
    return StoragePlan(locations=locations, plan=plan, scratch=scratch, final_copies=final_copies,
                       inplace_ops=inplace_ops, aliases=aliases)


def _overlaps(lowered: list[tuple[Operator, Lowered]], groups: _Groups,
              blocks: list[Block]) -> dict[tuple[tuple[str, int], tuple[str, int]], int]:
    """Where a kernel writes behind its reads (Lowered.overlap): the output's arena block may run over the
    input's when the input's block ends at that op and the output's begins there (neither is a caller buffer
    or a constant, which have no block, and the op reads no other input from the same bytes)."""
    by_key = {b.key: b for b in blocks}
    found = {}
    for step, (op, low) in enumerate(lowered):
        if low.overlap is None or not low.calls or not op.outputs or op.outputs[0] < 0:
            continue
        src, distance = low.overlap
        inp, out = by_key.get(("tensor", groups.find(src))), by_key.get(("tensor", groups.find(op.outputs[0])))
        if inp is None or out is None or inp is out or inp.last != step or out.first != step:
            continue
        if any(t >= 0 and t != src and groups.find(t) == groups.find(src) for t in op.inputs):
            continue
        found[(out.key, inp.key)] = distance
    return found


def _pinned_location(members: list[int], graph_inputs: dict[int, int], graph_outputs: dict[int, int],
                     tensors: tuple) -> Location | None:
    for m in sorted(members):
        if m in graph_inputs:
            return Location("input", graph_inputs[m])
    for m in sorted(members):
        if tensors[m].is_constant:
            return Location("const", m)
    for m in sorted(members):
        if m in graph_outputs:
            return Location("output", graph_outputs[m])
    return None
