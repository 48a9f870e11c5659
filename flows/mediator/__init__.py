"""flows.mediator: the gRPC mediator between collectors and meters, and its client.

    from flows.mediator import MediatorClient, MediatorError

    async with MediatorClient("127.0.0.1:50051") as mediator:
        registers = await mediator.read_element_a("EML2001000000")

`flows mediator` (see `flows.mediator.cli`) serves the meters; `MediatorClient` is the only
way other parts reach them. Every failure is a `MediatorError`; an answer that cannot be
decoded is an `UndecodableReply`.
"""

from flows.mediator.client import DEFAULT_DEADLINE_S, MediatorClient, MediatorError, UndecodableReply

__all__ = ["DEFAULT_DEADLINE_S", "MediatorClient", "MediatorError", "UndecodableReply"]
