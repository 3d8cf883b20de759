"""Event ids: canonical random UUIDs, never repeated, also across fork()."""

from __future__ import annotations

import os
import uuid

from carbonplane.events.envelope import new_event_id


def test_ids_are_canonical_version_4_uuids_and_unique():
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_a_forked_child_does_not_repeat_its_parents_next_id():
    new_event_id()  # the parent now holds a partly used chunk of random bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.write(write_end, new_event_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.close(write_end)
    assert child_id != new_event_id()
