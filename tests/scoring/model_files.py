"""Crafted LightGBM model files: a real trained model's text, edited as an attacker would.

``edit_tree`` rewrites one line of one tree and recomputes ``tree_sizes``, so the file still
looks consistent to LightGBM's loader (an edit that left ``tree_sizes`` stale would only
test the loader's own, cruder, check).
"""

from __future__ import annotations

import re


def tree_line(model_text: bytes, tree: int, key: str) -> str:
    """The value of ``key`` in tree number ``tree``."""
    block = _blocks(model_text)[1][tree]
    match = re.search(rf"(?m)^{re.escape(key)}=(.*)$", block.decode())
    assert match, f"tree {tree} has no {key}"
    return match.group(1)


def edit_tree(model_text: bytes, tree: int, key: str, value: str) -> bytes:
    """The model with ``key=value`` in tree number ``tree`` (and ``tree_sizes`` kept true)."""
    head, blocks, tail = _blocks(model_text)
    block = blocks[tree].decode()
    edited, count = re.subn(rf"(?m)^{re.escape(key)}=.*$", f"{key}={value}", block)
    assert count == 1, f"tree {tree} has no {key}"
    blocks[tree] = edited.encode()
    return with_sizes(head, blocks, tail)


def edit_header(model_text: bytes, key: str, value: str) -> bytes:
    head, blocks, tail = _blocks(model_text)
    edited, count = re.subn(rf"(?m)^{re.escape(key)}=.*$", f"{key}={value}", head.decode())
    assert count == 1, f"the header has no {key}"
    return with_sizes(edited.encode(), blocks, tail)


def map_trees(model_text: bytes, key: str, edit: object) -> bytes:
    """Apply ``edit(old value) -> new value`` to ``key`` in every tree that has it."""
    head, blocks, tail = _blocks(model_text)
    out = []
    for block in blocks:
        text = block.decode()
        out.append(
            re.sub(rf"(?m)^{re.escape(key)}=(.*)$", lambda m: f"{key}={edit(m.group(1))}", text).encode()  # type: ignore[operator]
        )
    return with_sizes(head, out, tail)


def with_sizes(head: bytes, blocks: list[bytes], tail: bytes) -> bytes:
    sizes = " ".join(str(len(b)) for b in blocks)
    head = re.sub(rb"(?m)^tree_sizes=.*$", b"tree_sizes=" + sizes.encode(), head)
    return head + b"".join(blocks) + tail


def _blocks(model_text: bytes) -> tuple[bytes, list[bytes], bytes]:
    first = model_text.index(b"\nTree=") + 1
    end = model_text.index(b"\nend of trees\n") + 1
    section = model_text[first:end]
    starts = [m.start() for m in re.finditer(rb"(?m)^Tree=", section)]
    blocks = [section[a:b] for a, b in zip(starts, [*starts[1:], len(section)], strict=True)]
    return model_text[:first], blocks, model_text[end:]
