"""Group commit for requests on the HTTP server's event loop (bot.server): submit called in a
greenlet there waits without blocking the loop, batches form from what the loop dispatched in
one pass, failures and time-outs stay with their own item, and loop and thread callers mix;
submit_before_answer only queues, and the answer waits for the commit.

Both ways of writing loop items are covered: the writer thread (`write`, as on SQLite) and a
coroutine on the loop itself (`write_on_loop`, as on PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest
from sqlalchemy.util.concurrency import greenlet_spawn

from bot.groupcommit import GroupCommit, all_committed, answer_after_commits


def on_one_loop(*calls: Callable[[], Any]) -> list[Any]:
    """Each call in its own greenlet on one event loop, all dispatched in the same pass, as the
    server does for requests that arrived together; their results (or exceptions), in order."""

    async def main() -> list[Any]:
        return await asyncio.gather(*(greenlet_spawn(call) for call in calls), return_exceptions=True)

    return asyncio.run(main())


def times_ten(batches: list[list[int]], threads: list[str], batch: Sequence[int]) -> list[int]:
    batches.append(list(batch))
    threads.append(threading.current_thread().name)
    return [n * 10 for n in batch]


def test_requests_dispatched_together_share_one_batch_written_by_the_writer_thread() -> None:
    batches: list[list[int]] = []
    threads: list[str] = []
    writer = GroupCommit(partial(times_ten, batches, threads), name="notes")

    def request(n: int) -> int | None:
        # Dispatching a request lets other threads run (it releases the interpreter lock):
        # a writer woken by the first item at once would take it alone.
        time.sleep(0.002)
        return writer.submit(n)

    assert on_one_loop(*(partial(request, n) for n in range(5))) == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]
    assert threads == ["notes-writer"]


def test_with_write_on_loop_the_batch_is_written_on_the_loop_and_never_by_a_thread() -> None:
    batches: list[list[int]] = []
    loop_threads: list[str] = []

    def write(batch: Sequence[int]) -> list[int]:
        raise AssertionError("an item from the loop went to the thread writer")

    async def write_on_loop(batch: Sequence[int]) -> list[int]:
        await asyncio.sleep(0)  # a real write waits for the database here
        return times_ten(batches, loop_threads, batch)

    writer = GroupCommit(write, write_on_loop=write_on_loop)
    assert on_one_loop(*(partial(writer.submit, n) for n in range(4))) == [0, 10, 20, 30]
    assert batches == [[0, 1, 2, 3]]
    assert loop_threads == [threading.current_thread().name]  # asyncio.run's loop runs in this thread


def test_items_arriving_while_a_write_is_under_way_make_the_next_batch() -> None:
    batches: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def write_on_loop(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        if len(batches) == 1:
            started.set()
            await release.wait()
        return [n * 10 for n in batch]

    writer = GroupCommit(lambda batch: None, write_on_loop=write_on_loop)

    async def main() -> list[Any]:
        first = [asyncio.ensure_future(greenlet_spawn(writer.submit, n)) for n in (0, 1, 2)]
        await started.wait()
        later = [asyncio.ensure_future(greenlet_spawn(writer.submit, n)) for n in (3, 4)]
        await asyncio.sleep(0)  # the later ones are queued behind the write under way
        release.set()
        return list(await asyncio.gather(*first, *later))

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2], [3, 4]]


async def submit_after_rounds(writer: GroupCommit[int, int], n: int, rounds: int) -> Any:
    """Submit `n` from a greenlet after `rounds` turns of the loop, as a request does that was
    read from the socket together with others but reaches the listener a little later."""
    for _ in range(rounds):
        await asyncio.sleep(0)
    return await greenlet_spawn(writer.submit, n)


def written_on_loop(batches: list[list[int]]) -> GroupCommit[int, int]:
    async def write_on_loop(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        await asyncio.sleep(0)
        return [n * 10 for n in batch]

    return GroupCommit(lambda batch: None, write_on_loop=write_on_loop)


def test_items_reaching_submit_a_few_loop_rounds_after_the_first_join_its_batch() -> None:
    batches: list[list[int]] = []
    writer = written_on_loop(batches)

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(submit_after_rounds(writer, n, rounds=n) for n in range(4))))

    assert asyncio.run(main()) == [0, 10, 20, 30]
    assert batches == [[0, 1, 2, 3]]


def test_a_lone_item_is_written_after_one_quiet_round_and_a_later_one_makes_its_own_batch() -> None:
    batches: list[list[int]] = []
    writer = written_on_loop(batches)

    async def main() -> list[Any]:
        # Item 1 comes well after the gathering for item 0 has seen a round bring nothing.
        return list(await asyncio.gather(submit_after_rounds(writer, 0, rounds=0), submit_after_rounds(writer, 1, rounds=10)))

    assert asyncio.run(main()) == [0, 10]
    assert batches == [[0], [1]]


def test_a_steady_stream_cannot_hold_a_batch_back_beyond_the_gathering_bound() -> None:
    from bot.groupcommit import GATHER_ROUNDS

    batches: list[list[int]] = []
    writer = written_on_loop(batches)
    count = 5 * GATHER_ROUNDS

    async def main() -> list[Any]:
        # A new item every round, for far longer than the gathering may wait.
        return list(await asyncio.gather(*(submit_after_rounds(writer, n, rounds=n) for n in range(count))))

    assert asyncio.run(main()) == [n * 10 for n in range(count)]
    assert [n for batch in batches for n in batch] == list(range(count))  # each once, in order
    assert len(batches[0]) == GATHER_ROUNDS + 1  # the first item and one per round gathered
    assert len(batches) > 1


@pytest.mark.parametrize("on_loop", [False, True], ids=["writer thread", "write_on_loop"])
def test_a_failing_item_fails_only_its_own_request(on_loop: bool) -> None:
    batches: list[list[int]] = []

    def write(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        if 2 in batch:
            raise ValueError("item 2 can't be stored")
        return [n * 10 for n in batch]

    async def write_on_loop(batch: Sequence[int]) -> list[int]:
        return write(batch)

    writer = GroupCommit(write, write_on_loop=write_on_loop if on_loop else None)
    results = on_one_loop(*(partial(writer.submit, n) for n in range(4)))
    assert results[:2] == [0, 10] and results[3] == 30
    assert isinstance(results[2], ValueError) and str(results[2]) == "item 2 can't be stored"
    assert batches == [[0, 1, 2, 3], [0], [1], [2], [3]]  # the batch failed, then each alone


def test_a_request_on_the_loop_that_waits_too_long_fails_and_its_item_is_never_written() -> None:
    batches: list[list[int]] = []
    entered, release = threading.Event(), threading.Event()

    def write(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        if batch == [1]:
            entered.set()
            release.wait(10)  # the database hangs on the first batch
        return [n * 10 for n in batch]

    writer = GroupCommit(write, wait_seconds=0.2)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(greenlet_spawn(writer.submit, 1))
        await asyncio.get_running_loop().run_in_executor(None, entered.wait, 10)
        second = asyncio.ensure_future(greenlet_spawn(writer.submit, 2))  # queued behind the hung write
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        release.set()
        return list(outcomes)

    first, second = asyncio.run(main())
    # Both requests fail (Slack redelivers events); the one no batch had taken is withdrawn.
    assert isinstance(first, TimeoutError) and isinstance(second, TimeoutError)
    assert str(second) == "group-commit: not committed within 0.2 s"
    assert on_one_loop(partial(writer.submit, 3)) == [30]  # the writer is not stuck
    assert batches == [[1], [3]]


def test_loop_and_thread_callers_mixed_are_each_written_once_with_their_own_result() -> None:
    written: list[int] = []
    lock = threading.Lock()

    def write(batch: Sequence[int]) -> list[int]:
        with lock:
            written.extend(batch)
        return [n * 10 for n in batch]

    writer = GroupCommit(write)
    from_threads: list[int | None] = []

    def thread_sender() -> None:
        for n in range(1000, 1200):
            from_threads.append(writer.submit(n))

    sender = threading.Thread(target=thread_sender)
    sender.start()
    from_loop: list[Any] = []
    for wave in range(20):
        from_loop += on_one_loop(*(partial(writer.submit, wave * 10 + n) for n in range(10)))
    sender.join(30)
    assert from_loop == [n * 10 for n in range(200)]
    assert from_threads == [n * 10 for n in range(1000, 1200)]
    assert sorted(written) == list(range(200)) + list(range(1000, 1200))


# -- submit_before_answer: the listener queues, the server answers after the commit ----------------


def test_before_answer_on_the_loop_the_listener_only_queues_and_the_answer_waits_for_the_commit() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def write_on_loop(batch: Sequence[int]) -> None:
        await release.wait()  # the database is slow today
        if 3 in batch:
            raise ValueError("item 3 can't be stored")
        batches.append(list(batch))

    writer = GroupCommit(lambda batch: None, write_on_loop=write_on_loop)

    async def main() -> tuple[Any, ...]:
        # As bot.server does: the listener runs in a greenlet, inside answer_after_commits.
        with answer_after_commits() as commits:
            await greenlet_spawn(writer.submit_before_answer, 1)
        listener_returned_before_commit = (len(commits), commits[0].done(), list(batches))
        answer = asyncio.ensure_future(all_committed(commits))
        await asyncio.sleep(0)
        waiting = not answer.done()
        release.set()
        ok = await answer
        with answer_after_commits() as failing:
            await greenlet_spawn(writer.submit_before_answer, 3)
            await greenlet_spawn(writer.submit_before_answer, 4)
        return listener_returned_before_commit, waiting, ok, list(batches), await all_committed(failing)

    queued, waiting, ok, written, failure = asyncio.run(main())
    assert queued == (1, False, [])  # returned at once, nothing written yet
    assert waiting and ok is None and written == [[1]]
    # A failed write is the answer's failure; the others in the request are still awaited.
    assert isinstance(failure, ValueError) and str(failure) == "item 3 can't be stored"


def test_before_answer_anywhere_else_waits_for_the_commit_like_submit() -> None:
    batches: list[list[int]] = []
    writer = GroupCommit(lambda batch: batches.append(list(batch)), name="notes")
    writer.submit_before_answer(1)  # a request thread: returns once committed
    assert batches == [[1]]
    # On a loop but outside the server's answer_after_commits (a test, a tool): it waits there.
    assert on_one_loop(partial(writer.submit_before_answer, 2)) == [None]
    assert batches == [[1], [2]]
