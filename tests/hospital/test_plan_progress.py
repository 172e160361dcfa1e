"""The plan search reports the replications it simulates, and the report changes nothing."""

from __future__ import annotations

from healthtwin.hospital import mmc_config
from healthtwin.hospital.plan import plan_capacity


def test_counted_search_is_the_uncounted_one_and_counts_every_replication() -> None:
    config = mmc_config(9.0, 1.0, 10)
    options = {"days": 3.0, "replications": 2, "max_replications": 8, "seed": 4}
    # A tight target leaves candidates undecided, so later stages add to the plan.
    target = "waited_fraction.queue<0.3"
    reports: list[tuple[int, int]] = []
    counted = plan_capacity(config, target, on_progress=lambda d, t: reports.append((d, t)),
                            **options)  # type: ignore[arg-type]  # fmt: skip
    plain = plan_capacity(config, target, **options)  # type: ignore[arg-type]
    assert counted.to_dict() == plain.to_dict()
    done = [d for d, _ in reports]
    assert done == sorted(done)
    assert all(d <= t for d, t in reports)
    simulated = sum(row.replications for row in counted.table)
    assert reports[-1] == (simulated, simulated)
    assert max(row.replications for row in counted.table) > options["replications"]


def test_a_widening_search_grows_its_total() -> None:
    config = mmc_config(9.0, 1.0, 10)
    reports: list[tuple[int, int]] = []
    result = plan_capacity(config, "waited_fraction.queue<0.2", days=2.0, bottleneck_p_wait=0.0,
                           replications=2, max_replications=2, max_rounds=3, confidence=0.99,
                           on_progress=lambda d, t: reports.append((d, t)))  # fmt: skip
    totals = [t for _, t in reports]
    assert totals == sorted(totals)
    assert reports[-1][0] == reports[-1][1] == sum(r.replications for r in result.table)
    # This queue has no costs: the search must still widen upwards (it once picked the
    # "largest" plan by the spelling of its name, queue=9, and stopped with a TypeError).
    assert result.rounds >= 2
    assert max(int(r.name.split("=")[1]) for r in result.table) > 19
