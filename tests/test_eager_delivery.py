"""The intake's eager delivery (streams/broker.py: eager_wait_first): the same answers as faust's
wait_first, without its tasks when the delivery does not wait; a delivery that waits is raced against a
suspension as before, and cancelling it reaches the delivery itself."""
from __future__ import annotations

import asyncio
import gc
import warnings

import mode
import pytest

from streams.broker import eager_wait_first


class Flow(mode.Service):
    """A stand-in for faust's consumer: a mode Service (stopped/crashed events) with a suspend_flow."""

    def __post_init__(self):
        self.suspend_flow = asyncio.Event()
        self.tasks_made = 0


def eager(consumer: Flow):
    return eager_wait_first(consumer, consumer.wait_first)


def counting_tasks(consumer: Flow):
    loop = asyncio.get_running_loop()
    default = loop.get_task_factory()

    def factory(loop, coro, **kw):
        consumer.tasks_made += 1
        return default(loop, coro, **kw) if default else asyncio.Task(coro, loop=loop, **kw)
    loop.set_task_factory(factory)


def run(coro):
    return asyncio.run(coro)


def test_a_delivery_that_does_not_wait_makes_no_task_and_leaves_no_coroutine_unawaited():
    async def main():
        consumer = Flow()
        counting_tasks(consumer)
        delivered = []

        async def deliver(m):
            delivered.append(m)
            return m * 2

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "coroutine ... was never awaited" would be a RuntimeWarning
            result = await eager(consumer)(deliver(21), consumer.suspend_flow.wait())
            gc.collect()
        assert delivered == [21] and result.results == [42] and not result.stopped
        assert consumer.tasks_made == 0
        # faust's own way, for comparison: four tasks for the same delivery
        await consumer.wait_first(deliver(1), consumer.suspend_flow.wait())
        assert consumer.tasks_made == 4
    run(main())


def test_a_delivery_that_waits_is_finished_later_with_what_it_waited_for():
    async def main():
        consumer = Flow()
        gate = asyncio.get_running_loop().create_future()
        steps = []

        async def deliver():
            steps.append("before")
            value = await gate
            steps.append(f"after {value}")
            return value + 1

        waiting = asyncio.ensure_future(eager(consumer)(deliver(), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        assert steps == ["before"] and not waiting.done()
        gate.set_result(41)
        result = await waiting
        assert steps == ["before", "after 41"] and result.results == [42]
    run(main())


def test_a_suspension_interrupts_a_waiting_delivery_and_the_delivery_sees_the_cancellation():
    async def main():
        consumer = Flow()
        gate = asyncio.get_running_loop().create_future()
        seen = []

        async def deliver():
            try:
                await gate
            except asyncio.CancelledError:
                seen.append("cancelled")
                raise
            seen.append("delivered")

        waiting = asyncio.ensure_future(eager(consumer)(deliver(), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        consumer.suspend_flow.set()  # a rebalance starts
        result = await waiting
        await asyncio.sleep(0.01)
        assert result.results == [True] and seen == ["cancelled"] and gate.cancelled()  # the suspension won
    run(main())


def test_while_suspended_faust_decides_as_before():
    async def main():
        consumer = Flow()
        consumer.suspend_flow.set()
        counting_tasks(consumer)

        async def deliver():
            return "x"

        result = await eager(consumer)(deliver(), consumer.suspend_flow.wait())
        assert consumer.tasks_made == 4 and not result.stopped  # faust's path, whatever it answers
    run(main())


def test_an_error_in_the_delivery_reaches_the_drain_loop():
    async def main():
        consumer = Flow()

        async def deliver():
            raise KeyError("no callback for this partition")

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(KeyError):
                await eager(consumer)(deliver(), consumer.suspend_flow.wait())
            gc.collect()

        gate = asyncio.get_running_loop().create_future()

        async def fails_later():
            await gate
            raise ValueError("bad")

        waiting = asyncio.ensure_future(eager(consumer)(fails_later(), consumer.suspend_flow.wait()))
        await asyncio.sleep(0)
        gate.set_result(None)
        with pytest.raises(ValueError):
            await waiting
    run(main())
