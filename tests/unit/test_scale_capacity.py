"""The memory arithmetic that refuses a scale-in before anything changes."""

import pytest

from cloudhp.errors import ExitStatus
from cloudhp.steps.capacity import (
    MIB,
    CapacityShortfall,
    Reservation,
    capacity_after,
    parse_reservations,
    refuse_unless_fits,
)

GIB = 1024 * MIB


def service(name, reservation=None, replicas=None, global_mode=False):
    """The parts of `docker service inspect` the check reads."""
    resources = {"Reservations": {"MemoryBytes": reservation}} if reservation else {}
    mode = {"Global": {}} if global_mode else {"Replicated": {"Replicas": replicas}}
    return {
        "ID": f"id-{name}",
        "Spec": {"Name": name, "Mode": mode, "TaskTemplate": {"Resources": resources}},
    }


def test_only_services_that_reserve_memory_count():
    docs = [
        service("web", 512 * MIB, 3),
        service("proxy", None, 1),
        service("agent", 64 * MIB, global_mode=True),
        {"Spec": {"Name": "bare", "Mode": {"Replicated": {"Replicas": 2}}}},
    ]
    assert parse_reservations(docs) == [
        Reservation("agent", None, 64 * MIB),
        Reservation("web", 3, 512 * MIB),
    ]


def test_replicas_times_reservation_and_a_global_service_once_per_node_left():
    found = capacity_after(
        [Reservation("agent", None, 64 * MIB), Reservation("web", 3, 512 * MIB)],
        {"m1": 2 * GIB, "w1": 2 * GIB},
    )
    assert found.needed_bytes == 2 * 64 * MIB + 3 * 512 * MIB
    assert found.available_bytes == 4 * GIB
    assert found.needs == ("agent 2 x 64 MiB (global)", "web 3 x 512 MiB")
    assert found.fits


def test_exactly_full_fits_one_byte_more_does_not():
    remaining = {"m1": 1024 * MIB}
    assert capacity_after([Reservation("a", 2, 512 * MIB)], remaining).fits
    assert not capacity_after([Reservation("a", 1, 1024 * MIB + 1)], remaining).fits


def test_no_node_left_offers_nothing():
    found = capacity_after([Reservation("a", 1, MIB)], {})
    assert (found.needed_bytes, found.available_bytes, found.fits) == (MIB, 0, False)


def test_a_shortfall_is_refused_with_the_numbers_and_exit_4():
    remaining = {"c-manager-1": 16 * GIB}
    capacity = capacity_after([Reservation("app-big", 2, 10 * GIB)], remaining)
    with pytest.raises(CapacityShortfall) as caught:
        refuse_unless_fits(capacity, ["c-worker-1"], remaining)
    assert caught.value.message == (
        "removing c-worker-1 would leave 16384 MiB on c-manager-1 for 20480 MiB of memory "
        "reservations (app-big 2 x 10240 MiB); nothing was changed"
    )
    assert "cloudhp services" in (caught.value.hint or "")
    assert caught.value.exit_status == ExitStatus.CONFLICT


def test_a_fit_passes_silently():
    remaining = {"m1": GIB}
    refuse_unless_fits(capacity_after([], remaining), ["w1"], remaining)
