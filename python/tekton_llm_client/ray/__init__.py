"""Batch jobs on Ray Data (`pip install tekton-llm-client[ray]`): `RhetorChat` for
`Dataset.map_batches`, and `shared_limiter` for a rate limit and 429 cool-down shared by every
actor of a job. See docs/scale-out.md. Importing `tekton_llm_client` never imports this module
(nor Ray)."""

from ._chat import OUTPUT_COLUMNS, RhetorChat
from ._limiter import shared_limiter
from ._slots import SlotBook

__all__ = ["RhetorChat", "shared_limiter", "SlotBook", "OUTPUT_COLUMNS"]
