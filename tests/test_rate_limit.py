"""A user acting too fast gets 429 with Retry-After; everyone else is unaffected."""

import asyncio

import httpx
import pytest

from api.ratelimit import RateLimiter
from infra.localstack import Stack, token


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.wait_for("u") for _ in range(3)] == [0, 0, 0]
    assert limiter.wait_for("u") == pytest.approx(0.5)
    assert limiter.wait_for("other") == 0
    clock.now = 0.5
    assert limiter.wait_for("u") == 0
    assert limiter.wait_for("u") > 0


def test_rate_zero_disables_the_limit() -> None:
    limiter = RateLimiter(rate=0, burst=1, clock=Clock())
    assert all(limiter.wait_for("u") == 0 for _ in range(1000))


@pytest.mark.slow
def test_gateway_answers_429_problem_with_retry_after(stack: Stack) -> None:
    """The session stack allows bursts of 200 actions per user."""
    headers = token(stack.gateway_url, "flooder")
    room = httpx.post(
        f"{stack.gateway_url}/v1/rooms",
        json={"title": "Flood", "start_now": True},
        headers=token(stack.gateway_url, "calm-host"),
        timeout=20,
    ).json()

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as c:
            return await asyncio.gather(
                *(c.post(f"/v1/rooms/{room['room_id']}/leave") for _ in range(260))
            )

    responses = asyncio.run(flood())
    limited = [r for r in responses if r.status_code == 429]
    assert limited, [r.status_code for r in responses][:10]
    assert all(r.status_code in (204, 429) for r in responses)
    first = limited[0]
    assert first.headers["content-type"].startswith("application/problem+json")
    assert int(first.headers["retry-after"]) >= 1
    assert first.json()["code"] == "rate_limited"
    calm = httpx.post(
        f"{stack.gateway_url}/v1/rooms/{room['room_id']}/start",
        headers=token(stack.gateway_url, "calm-host"),
        timeout=20,
    )
    assert calm.status_code == 409  # judged on its merits (already live), not rate-limited
