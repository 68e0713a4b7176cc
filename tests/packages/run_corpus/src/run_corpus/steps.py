"""Runner scripts with pydantic inputs and Annotated outputs, and plain scripts, all run in the corpus image."""

from typing import Annotated

from hera.workflows import Parameter, RetryStrategy, script
from pydantic import BaseModel


class Order(BaseModel):
    item: str
    quantity: int


@script(constructor="runner")
def price(order: Order, unit: float = 2.5) -> Annotated[float, Parameter(name="total")]:
    """An Annotated output parameter, computed from a pydantic input."""
    return order.quantity * unit


@script(constructor="runner")
def describe(
    order: Order, total: float
) -> tuple[Annotated[str, Parameter(name="summary")], Annotated[int, Parameter(name="count")]]:
    """Two Annotated outputs at once."""
    return f"{order.quantity} x {order.item} = {total}", order.quantity


@script(constructor="runner")
def numbers(count: int) -> list[int]:
    """A JSON list on stdout: what withParam fans out over."""
    return list(range(1, count + 1))


@script(constructor="runner")
def square(n: int) -> int:
    return n * n


@script(constructor="runner")
def total(values: list[int]) -> int:
    """The fan-in: the aggregated results of every item, as a JSON list."""
    return sum(values)


@script()
def flip(side: str) -> None:
    print(side)


@script()
def say(message: str) -> None:
    print(message)


@script()
def fail(message: str) -> None:
    import sys

    print(message)
    sys.exit(3)


@script(retry_strategy=RetryStrategy(limit=3, retry_policy="OnFailure"))
def third_time_lucky() -> None:
    import sys

    attempt = int("{{retries}}")
    print(f"attempt {attempt}")
    sys.exit(0 if attempt >= 2 else 1)


@script(active_deadline_seconds=2)
def sleep_long() -> None:
    import time

    time.sleep(60)
