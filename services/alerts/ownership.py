"""Which provinces an instance owns: those whose key lands on a partition it is assigned.

`incidents.accepted` is keyed by province code and partitioned by Kafka's default partitioner
(murmur2 of the key), so an instance evaluates exactly the provinces whose notices it consumes —
on clock ticks too — and two instances in one group never evaluate the same province.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.partitioner import DefaultPartitioner

_partitioner = DefaultPartitioner()


def partition_of(province: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives the key `province`."""
    all_partitions = list(range(partitions))
    return int(_partitioner(province.encode(), all_partitions, all_partitions))


def owned(provinces: Iterable[str], assigned: Iterable[int], partitions: int) -> set[str]:
    """The provinces among `provinces` whose partition is in `assigned`."""
    mine = set(assigned)
    if partitions <= 0:
        return set()
    return {p for p in provinces if partition_of(p, partitions) in mine}
