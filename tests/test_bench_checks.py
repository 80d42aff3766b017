"""make bench's own checks, without a load: the per-request ledger, the CPU split, the paced-rate flag.

A real ``bench/run.py`` run needs wrk, a fresh database and trained models (minutes), so the
suite exercises what decides its verdicts: the functions that turn what wrk saw, what the
database holds and what ``/proc`` said into the printed lines.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from bench import cpu, instructions
from bench.run import (
    floor_report,
    gunicorn,
    median_run,
    paced_shortfall,
    paired_shares,
    report,
    run_pair,
    score_ledger_problems,
    score_stored_report,
    server_log_events,
    server_log_lines,
)
from bench.setup_db import score_stored
from scoring.models import Decision
from tests.services import require


def wrk_run(requests: int, status_errors: int = 0, rps: float = 100.0) -> dict[str, Any]:
    return {
        "requests": requests,
        "status_errors": status_errors,
        "socket_errors": 0,
        "rps": rps,
        "p50_us": 2000,
        "p95_us": 6000,
        "p99_us": 9000,
    }


def stored_run(log_2xx: int, decisions: int, *, log_rows: int | None = None, distinct: int | None = None) -> dict:
    rows = log_2xx if log_rows is None else log_rows
    return {
        "log_rows": rows,
        "log_distinct": rows if distinct is None else distinct,
        "log_2xx": log_2xx,
        "log_2xx_distinct": log_2xx,
        "gaps": 0,
        "decisions": decisions,
    }


# --- the /score ledger -----------------------------------------------------------------------


def test_a_ledger_that_adds_up_is_a_yes() -> None:
    ledger = {"a": wrk_run(1000), "b": wrk_run(500, status_errors=2)}
    stored = {
        # b: 2 refused requests are logged too; 3 requests in flight at a's end were stored and logged
        "runs": {"a": stored_run(1003, 1000), "b": stored_run(498, 501, log_rows=500)},
        "total": {"decisions": 1501, "log_2xx": 1501},
    }
    assert score_ledger_problems(ledger, stored, connections=16) == []
    lines = score_stored_report(ledger, stored, connections=16)
    assert lines[-1] == "one decision per answered request, none lost, none twice: yes"


def test_an_answered_request_without_its_call_log_row_is_caught() -> None:
    problems = score_ledger_problems(
        {"a": wrk_run(1000)}, {"runs": {"a": stored_run(999, 999)}, "total": {"decisions": 999, "log_2xx": 999}}, 16
    )
    assert problems == ["a: 1000 answered 2xx, only 999 call-log rows with 2xx"]


def test_a_request_logged_twice_is_caught() -> None:
    stored = {"runs": {"a": stored_run(1001, 1001, distinct=1000)}, "total": {"decisions": 1001, "log_2xx": 1001}}
    problems = score_ledger_problems({"a": wrk_run(1000)}, stored, 16)
    assert problems == ["a: 1 request id(s) logged twice"]
    assert score_stored_report({"a": wrk_run(1000)}, stored, 16)[-1].endswith(
        "none twice: NO: a: 1 request id(s) logged twice"
    )


def test_more_decisions_than_answers_beyond_the_requests_in_flight_is_caught() -> None:
    stored = {"runs": {"a": stored_run(1000, 1017)}, "total": {"decisions": 1000, "log_2xx": 1000}}
    assert score_ledger_problems({"a": wrk_run(1000)}, stored, 16) == [
        "a: 1017 decisions stored during the run for 1000 2xx call-log rows"
    ]
    stored["runs"]["a"]["decisions"] = 1016  # one per connection at an edge: in flight, not lost
    assert score_ledger_problems({"a": wrk_run(1000)}, stored, 16) == []


def test_over_all_the_runs_decisions_and_answers_must_match_exactly() -> None:
    stored = {"runs": {"a": stored_run(1000, 1000)}, "total": {"decisions": 1001, "log_2xx": 1000}}
    assert score_ledger_problems({"a": wrk_run(1000)}, stored, 16) == [
        "all runs: 1001 decisions stored for 1000 2xx call-log rows"
    ]


def test_missing_request_ids_and_unchecked_runs_are_caught() -> None:
    gappy = {**stored_run(1000, 1000), "gaps": 17}
    stored = {"runs": {"a": gappy}, "total": {"decisions": 1000, "log_2xx": 1000}}
    assert score_ledger_problems({"a": wrk_run(1000), "b": wrk_run(10)}, stored, 16) == [
        "a: 17 request ids missing from the call log",
        "b: not checked",
    ]


def test_with_the_answered_ids_listed_each_answered_request_is_looked_up_by_its_id() -> None:
    listed = {"answered": 1000, "answered_distinct": 1000, "answered_unlogged": 0, "logged_unanswered": 3}
    stored = {"runs": {"a": {**stored_run(1003, 1000), **listed}}, "total": {"decisions": 1003, "log_2xx": 1003}}
    assert score_ledger_problems({"a": wrk_run(1000)}, stored, 16) == []
    assert "(each found by its id, warm-ups included" in score_stored_report({"a": wrk_run(1000)}, stored, 16)[0]

    # as many rows as answers, but one answered request is missing and another logged instead
    stored["runs"]["a"].update(answered_unlogged=1, logged_unanswered=1, log_rows=1000, log_distinct=1000)
    stored["runs"]["a"]["log_2xx"] = 1000
    assert score_ledger_problems({"a": wrk_run(1000)}, stored, 16) == [
        "a: 1 answered request(s) without a 2xx call-log row"
    ]
    stored["runs"]["a"].update(answered=999, answered_distinct=999, answered_unlogged=0)
    assert score_ledger_problems({"a": wrk_run(1000)}, stored, 16) == [
        "a: wrk counted 1000 2xx answers, listed 999 ids (999 distinct)"
    ]


@pytest.mark.django_db
def test_the_database_side_counts_each_request_by_its_id(key_client: Any, credit_model: object, tmp_path: Path) -> None:
    client = key_client("analyst", ["score"])
    body = {"age": 35, "revenu": 50000, "historique_impaye": 1}
    start = time.time()
    for request_id in ("Bsplatformpaced0-1-1", "Bsplatformpaced0-1-2", "Bsplatformpaced0-2-1"):
        assert client.post("/score", body, format="json", HTTP_X_REQUEST_ID=request_id).status_code == 201
    refused = client.post("/score", {"age": "old"}, format="json", HTTP_X_REQUEST_ID="Bsplatformpaced0-2-3")
    assert refused.status_code == 400
    end = time.time()
    (caller,) = {d.caller for d in Decision.objects.all()}  # the key's label, as the call log has it

    answered = tmp_path / "answered.txt"  # as wrk lists them; the last one was never logged
    answered.write_text("Bsplatformpaced0-1-1\nBsplatformpaced0-2-1\nBsplatformpaced0-1-9\n")
    stored = score_stored(caller, {"splatformpaced0": [start, end, str(answered)]}, settle_seconds=0)

    assert stored["runs"] == {
        "splatformpaced0": {
            "answered": 3,
            "answered_distinct": 3,
            "answered_unlogged": 1,
            "logged_unanswered": 1,
            "log_rows": 4,
            "log_distinct": 4,
            "log_2xx": 3,
            "log_2xx_distinct": 3,
            "gaps": 1,  # thread 2's request 2 never reached the server
            "decisions": 3,
        }
    }
    assert stored["total"] == {"decisions": 3, "log_2xx": 3}
    assert score_ledger_problems({"splatformpaced0": wrk_run(4, status_errors=1)}, stored, 16) == [
        "splatformpaced0: 1 answered request(s) without a 2xx call-log row"
    ]
    del stored["runs"]["splatformpaced0"]["answered"]  # by the counts alone
    assert score_ledger_problems({"splatformpaced0": wrk_run(4, status_errors=1)}, stored, 16) == []
    assert score_ledger_problems({"splatformpaced0": wrk_run(5, status_errors=1)}, stored, 16) == [
        "splatformpaced0: 4 answered 2xx, only 3 call-log rows with 2xx"
    ]


# --- the paced rate --------------------------------------------------------------------------


def test_a_paced_run_below_95_percent_of_its_rate_is_flagged() -> None:
    assert paced_shortfall(290, 300) is None
    assert paced_shortfall(283, 300) == (
        "could not follow the paced rate: 283 req/s of 300 (94%); "
        "its latency is that of a saturated server, not of the paced load"
    )
    assert paced_shortfall(10, None) is None


def test_three_runs_report_the_median_throughputs_run_and_each_percentiles_own_median() -> None:
    runs = [
        {**wrk_run(3000, rps=299.9), "p50_us": 2750, "p99_us": 10329, "max_us": 30000},
        {**wrk_run(3000, rps=299.95), "p50_us": 2600, "p99_us": 17805, "max_us": 45000},
        {**wrk_run(3000, rps=300.0), "p50_us": 2640, "p99_us": 11485, "max_us": 20000},
    ]
    merged = median_run(runs)
    assert merged["rps"] == 299.95  # the run with the median throughput...
    assert merged["p99_us"] == 11485  # ...but the median p99 of the three, not that run's 17805
    assert merged["p50_us"] == 2640 and merged["max_us"] == 45000
    assert [r["p99_us"] for r in merged["runs"]] == [10329, 17805, 11485]
    lines = report("POST /fraude", {"platform:paced": merged}, 15, None, paced_rate=300, goal_rate=300)
    assert any(
        line.startswith("paced      platform") and line.endswith("300 / 300 / 300; 10.33 / 17.80 / 11.48")
        for line in lines
    )
    assert "platform p99 at ~300 req/s (paced at 300) = 11.48 ms (goal <= 15 ms at 300 req/s: met)" in lines


def test_the_report_states_each_goal_at_the_rate_used() -> None:
    results = {
        "platform:saturation": {**wrk_run(900, rps=300.0), "runs": [{"rps": 290.0}, {"rps": 300.0}, {"rps": 310.0}]},
        "platform:paced": {**wrk_run(850, rps=283.0), "p99_us": 12000},
        "bare:saturation": wrk_run(15000, rps=5000.0),
        "bare:paced": wrk_run(900, rps=299.0),
    }
    lines = report("POST /fraude", results, 15, None, 0.2, paced_rate=300, goal_rate=300)
    assert "platform throughput = 6% of the bare endpoint's (goal >= 20%: NOT met)" in lines
    assert "platform p99 at ~283 req/s (paced at 300) = 12.00 ms (goal <= 15 ms at 300 req/s: NOT met)" in lines
    assert any(line.startswith("WARNING: platform could not follow the paced rate: 283") for line in lines)
    assert not any(line.startswith("WARNING: bare") for line in lines)
    assert any(line.startswith("saturation platform") and line.endswith("290 / 300 / 310") for line in lines)

    lines = report("POST /score", results, 15, 500, 0.3, paced_rate=250, goal_rate=500)
    assert "  (paced at 250 req/s, not at the goal's 500)" in lines
    assert "platform p99 at ~283 req/s (paced at 250) = 12.00 ms (goal <= 15 ms at 500 req/s: met)" in lines


# --- machine CPU per request -----------------------------------------------------------------


def test_a_process_stat_line_is_read_whatever_its_command_holds() -> None:
    line = "4242 (postgres: x) y) S 1 2 3 4 5 6 7 8 9 10 1500 250 0 0 20 0 1 0 777 0 0\n"
    assert cpu.parse_stat(line) == ("postgres: x) y", 1500, 250, 777)


def test_processes_fall_in_their_groups() -> None:
    assert cpu.group_of(10, "gunicorn", {10, 11}) == "gunicorn"
    assert cpu.group_of(11, "python", {10, 11}) == "gunicorn"
    assert cpu.group_of(12, "postgres", {10}) == "postgres"
    assert cpu.group_of(13, "redis-server", {10}) == "redis"
    assert cpu.group_of(14, "python3", {10}) == "other"


def test_the_idle_share_comes_from_idle_and_iowait() -> None:
    assert cpu.machine_ticks("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n") == (850, 1000)


def test_cpu_per_request_splits_what_each_group_spent_during_the_run() -> None:
    before = cpu.Snapshot(
        processes={
            (1, 5): ("gunicorn", 100, 10),
            (2, 5): ("postgres", 50, 50),
            (3, 5): ("other", 10, 10),  # exits during the run: lost, not negative
            (4, 5): ("redis", 7, 3),
        },
        idle=1000,
        total=2000,
        children_user=1.0,
        children_sys=0.5,
    )
    after = cpu.Snapshot(
        processes={
            (1, 5): ("gunicorn", 300, 60),  # +2.0 s user, +0.5 s system at 100 ticks/s
            (2, 5): ("postgres", 90, 70),  # +0.4 / +0.2
            (4, 5): ("redis", 17, 3),  # +0.1 / 0
            (5, 9): ("postgres", 20, 20),  # a backend started during the run: all of it, +0.2 / +0.2
            (3, 8): ("other", 30, 0),  # pid 3 reused by a new process: counted from zero
        },
        idle=1500,
        total=4000,
        children_user=1.5,  # wrk: +0.5 / +0.25
        children_sys=0.75,
        own_database={(5, 9)},
    )
    split = cpu.cpu_split(before, after, requests=1000, ticks_per_second=100)
    assert split["gunicorn"] == {"ms": 2.5, "user_ms": 2.0, "sys_ms": 0.5}
    assert split["postgres"] == {"ms": 1.0, "user_ms": 0.6, "sys_ms": 0.4, "this_database_ms": 0.4}
    assert split["redis"] == {"ms": 0.1, "user_ms": 0.1, "sys_ms": 0.0}
    assert split["wrk"] == {"ms": 0.75, "user_ms": 0.5, "sys_ms": 0.25}
    assert split["other"] == {"ms": 0.3, "user_ms": 0.3, "sys_ms": 0.0}
    assert split["idle_share"] == 0.25
    assert cpu.cpu_line(split) == (
        "machine CPU per request: gunicorn 2.50 ms (user 2.00 / sys 0.50), postgres 1.00 ms (user 0.60 / sys 0.40) "
        "[this database's backends 0.40], redis 0.10 ms (user 0.10 / sys 0.00), wrk 0.75 ms (user 0.50 / sys 0.25), "
        "other 0.30 ms (user 0.30 / sys 0.00); all 4.65 ms; cores idle 25%"
    )


def test_the_report_prints_the_cpu_of_each_server_at_saturation() -> None:
    snap = cpu.Snapshot(processes={}, idle=0, total=100)
    split = cpu.cpu_split(snap, snap, requests=10)
    results = {"platform:saturation": {**wrk_run(10), "cpu": split}, "bare:saturation": {**wrk_run(10), "cpu": split}}
    lines = report("POST /score", results, 15, 500)
    assert [line.split(", postgres")[0] for line in lines if "machine CPU" in line] == [
        "platform at saturation, machine CPU per request: gunicorn 0.00 ms (user 0.00 / sys 0.00)",
        "bare at saturation, machine CPU per request: gunicorn 0.00 ms (user 0.00 / sys 0.00)",
    ]


@pytest.mark.urls("bench.floor_urls")
def test_the_drf_floor_goes_through_the_score_endpoints_authentication_and_parsing(
    client: Any, api_key_for: Any
) -> None:
    body = {"age": 35, "revenu": 50000, "historique_impaye": 1}
    anonymous = client.post("/bench/floor/drf", body, content_type="application/json")
    assert anonymous.status_code == 401, "the floor pays for authentication, as /score does"
    key = api_key_for()
    answered = client.post("/bench/floor/drf", body, content_type="application/json", HTTP_X_API_KEY=key)
    assert (answered.status_code, answered.json()) == (200, {})
    malformed = client.post("/bench/floor/drf", "{", content_type="application/json", HTTP_X_API_KEY=key)
    assert malformed.status_code == 400, "and parses the body"
    viewer = client.post(
        "/bench/floor/drf", body, content_type="application/json", HTTP_X_API_KEY=api_key_for("viewer")
    )
    assert viewer.status_code == 403, "and checks /score's permission"
    plain = client.post("/bench/floor/django", body, content_type="application/json")
    assert (plain.status_code, plain.json()) == (200, {})
    assert client.post("/api/v1/score", body, content_type="application/json").status_code == 401, (
        "the platform's routes"
    )


def test_the_floor_report_gives_each_endpoint_its_share_of_the_bare_throughput() -> None:
    results = {
        "django:saturation": wrk_run(10_000, rps=1500.0),
        "drf:saturation": wrk_run(10_000, rps=1000.0),
        "score:saturation": wrk_run(10_000, rps=500.0),
        "bare:saturation": wrk_run(10_000, rps=4000.0),
    }
    lines = floor_report(results)
    assert any(line.startswith("django") and "38%" in line for line in lines)
    assert any(line.startswith("drf") and "25%" in line for line in lines)
    assert any(line.startswith("score") and "12%" in line for line in lines)
    assert any("at most 25% of the bare endpoint's throughput" in line for line in lines)


# --- Instructions per request (bench/instructions.py) -------------------------------------------


def test_the_count_is_read_from_the_dump_and_not_from_the_exit_file() -> None:
    dumped = "version: 1\ncreator: callgrind-3.19.0\nsummary: 29574846\ntotals: 29574846\n"
    at_exit = "summary: 18446744073679976770\ntotals: 273674\n"  # what ran after the dump, counter wrapped
    assert instructions.callgrind_total(dumped) == 29_574_846
    assert instructions.callgrind_total(at_exit) == 273_674
    assert instructions.callgrind_total("events: Ir\n") == 0


def test_the_instructions_report_sets_each_endpoint_beside_the_bare_one_and_splits_score() -> None:
    counts = {
        "bare": 300_000,
        "django": 1_200_000,
        "drf": 2_100_000,
        "score": 6_000_000,
        "fraude": 9_000_000,
        "parse": 60_000,
        "service": 2_400_000,
        "model": 1_200_000,
        "answer": 140_000,
    }
    lines = instructions.instructions_report(counts, 200)
    assert any(line.startswith("score") and "6,000,000" in line and "20.0" in line for line in lines)
    assert any(line.startswith("fraude") and "30.0" in line for line in lines)
    cycle = next(line for line in lines if line.strip().startswith("cycle"))
    assert "3,400,000" in cycle and "57 %" in cycle  # 6.0M - 60k - 2.4M - 140k: what no part explains
    assert any("DRF floor, is 2,100,000: 0.6 x" in line for line in lines)


def test_the_report_leaves_out_what_was_not_counted() -> None:
    lines = instructions.instructions_report({"bare": 100, "django": 400, "drf": 700, "score": 2_000}, 10)
    assert not any(line.startswith("fraude") for line in lines)
    assert not any("by part" in line for line in lines)


def test_the_keyed_score_target_sends_a_new_idempotency_key_on_each_request() -> None:
    """``score-key`` counts what a retry-safe caller costs: every request a key never seen before."""
    seen: list[str | None] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ.get("HTTP_IDEMPOTENCY_KEY"))
        start_response("201 Created", [])
        return [b"{}"]

    keyed = instructions._wsgi(app, "/score", [b'{"age": 35}'], "key", idempotency=True)
    keyed(0), keyed(1), keyed(0)  # the measured loop numbers its requests from 0 again after the warm-up
    plain = instructions._wsgi(app, "/score", [b'{"age": 35}'], "key")
    plain(0)
    assert all(seen[:3]) and len(set(seen[:3])) == 3 and seen[3] is None
    assert "score-key" in instructions.TARGETS


def test_each_fraude_request_counted_carries_a_transaction_id_never_sent_before() -> None:
    """Otherwise the first requests of the measured loop would be replays of the warm-up's."""
    ids: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ids.append(environ["wsgi.input"].read())
        start_response("201 Created", [])
        return [b"{}"]

    call = instructions._wsgi(app, "/fraude", [b'{"transaction_id": "{TX}"}'], "key")
    for i in [*range(3), *range(3)]:  # warm-up, then the measured loop
        call(i)
    assert len(set(ids)) == 6


def test_callgrind_counts_the_requests_of_a_real_endpoint(tmp_path: Path) -> None:
    """The child protocol end to end: valgrind, instrumentation switched on around the loop, the dump read."""
    require(instructions.available() is None, "valgrind (Debian package 'valgrind')")
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"age": 35}\n')
    env = {**os.environ, "PYTHONPATH": str(instructions.ROOT)}
    count = instructions.measure("django", env, bodies, key="", requests=5, warmup=2)
    assert 100_000 < count < 50_000_000  # a Django request through the middleware, not zero, not the start-up


def test_gc_pauses_count_only_the_collections_inside_the_runs(tmp_path: Path) -> None:
    from bench import gcpauses

    (tmp_path / "gc-101.txt").write_text("100.0 2 150.0\n105.5 0 0.2\n106.0 2 0.3\n")
    (tmp_path / "gc-102.txt").write_text("105.7 1 0.9\n130.0 2 60.0\n131.0 2")
    events = gcpauses.read(tmp_path)
    assert len(events) == 5
    # Two runs, 105-110 and 120-125: the warm-up's 150 ms and the 60 ms after the runs do not count.
    gc = gcpauses.summary(events, [(105.0, 110.0), (120.0, 125.0)])
    assert gc == {"full": 1, "full_max_ms": 0.3, "young": 2, "young_max_ms": 0.9, "total_ms": pytest.approx(1.4)}
    line = gcpauses.line("platform", "paced", gc, 2)
    assert "1 full, longest 0.3 ms; 2 young, longest 0.9 ms" in line
    assert gcpauses.summary([], [(0.0, 1.0)])["full_max_ms"] == 0.0


def test_a_worker_that_dies_during_the_benchmark_is_reported_from_the_servers_log(tmp_path: Path) -> None:
    """The benchmark keeps gunicorn's log, and a killed worker shows next to the ledger, not nowhere."""
    log = tmp_path / "gunicorn.log"
    with gunicorn("wsgiref.simple_server:demo_app", dict(os.environ), 2, "/health", log=log) as served:
        before = served.worker_pids()
        assert len(before) == 2
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (before[0] in served.worker_pids() or len(served.worker_pids()) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert before[0] not in served.worker_pids()  # gunicorn has replaced it

    events = server_log_events(log)
    assert events["counts"]["worker killed"] == 1
    lines = server_log_lines("platform", events)
    assert lines[0].startswith("WARNING: platform server log: 1 worker killed")
    assert f"pid:{before[0]}" in lines[1]


def test_the_platform_and_the_bare_endpoint_run_side_by_side_and_each_share_pairs_neighbours(tmp_path: Path) -> None:
    """The host's speed drifts within minutes: each platform run sits next to a bare run, in
    turns, and the share compared with the goal is the median of those pairs' shares."""
    require(shutil.which("wrk") is not None, "wrk (bin/ensure-system-deps)")
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text('{"age": 35}\n')
    app = {"app": "wsgiref.simple_server:demo_app", "env": dict(os.environ), "path": "/", "ready": "/health"}
    args = argparse.Namespace(repeat=3, seconds=1, connections=2, workers=1, worker_class="sync", threads=1)
    ledger: dict[str, Any] = {}
    logs: dict[str, Any] = {}
    out = run_pair("t", app, app, [("saturation", None)], args, {}, "k", bodies, ledger, server_logs=logs)

    platform, bare = out["platform:saturation"]["runs"], out["bare:saturation"]["runs"]
    assert len(platform) == len(bare) == 3
    # In turns: platform, bare; bare, platform; platform, bare.
    order = sorted(
        [("p", n, r["span"][0]) for n, r in enumerate(platform)] + [("b", n, r["span"][0]) for n, r in enumerate(bare)],
        key=lambda x: x[2],
    )
    assert [(who, n) for who, n, _ in order] == [("p", 0), ("b", 0), ("b", 1), ("p", 1), ("p", 2), ("b", 2)]
    shares = out["platform:saturation"]["shares"]
    assert shares == [p["rps"] / b["rps"] for p, b in zip(platform, bare, strict=True)]
    assert all("cpu" in r for r in platform + bare)  # the measured runs, not the warm-ups
    assert sorted(ledger) == ["tplatformsaturation0", "tplatformsaturation1", "tplatformsaturation2", "tplatformw"]
    assert set(logs) == {"platform", "bare"}

    median = sorted(shares)[1]
    line = next(x for x in report("POST /score", out, 15, None, 0.3) if x.startswith("platform throughput"))
    assert line.startswith(
        f"platform throughput = {median:.0%} of the bare endpoint's (the median of 3 runs, each beside"
    )


def test_a_share_is_read_from_the_runs_beside_each_other_not_from_the_two_medians() -> None:
    platform = [wrk_run(100, rps=rps) for rps in (200.0, 300.0, 260.0)]
    bare = [wrk_run(100, rps=rps) for rps in (1000.0, 2000.0, 1000.0)]  # the host slowed in runs 1 and 3
    assert paired_shares(platform, bare) == [0.2, 0.15, 0.26]
    results = {
        "platform:saturation": {**median_run(platform), "shares": paired_shares(platform, bare)},
        "bare:saturation": median_run(bare),
    }
    lines = report("POST /fraude", results, 15, None, 0.2)
    # The medians alone (260 / 1,000) would say 26 %: the pairs say 20 %.
    assert (
        "platform throughput = 20% of the bare endpoint's (the median of 3 runs, each beside a bare run: "
        "20% / 15% / 26%; goal >= 20%: met)"
    ) in lines


def test_a_server_whose_workers_all_lived_says_so(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    with gunicorn("wsgiref.simple_server:demo_app", dict(os.environ), 2, "/health", log=log):
        pass
    assert server_log_lines("bare", server_log_events(log)) == [
        f"bare server log: no worker died or timed out, nothing logged at warning or above ({log})"
    ]


# --- PostgreSQL's CPU by statement (bench/statement_cost.py) ------------------------------------


@pytest.mark.parametrize(
    ("sql", "key"),
    [
        ("EXECUTE fraud_velocity_6bd755898eeb (%s, %s)", "fraud_velocity"),
        ("EXECUTE insert_scoring_decision_by_client_0a1b2c3d4e5f (%s)", "insert_scoring_decision_by_client"),
        ("PREPARE fraud_store_5b83d42d68f1 AS WITH t AS (INSERT INTO x) SELECT 1", "PREPARE fraud_store"),
        ('INSERT INTO "monitoring_apicall" ("id", "path") VALUES (%s, %s)', "INSERT INTO monitoring_apicall"),
        ('SELECT "scoring_modelversion"."id" FROM "scoring_modelversion" WHERE x = %s', "SELECT scoring_modelversion"),
        ('UPDATE "accounts_apikey" SET "last_used_at" = %s WHERE id = %s', "UPDATE accounts_apikey"),
        ("SAVEPOINT s1_x3", "SAVEPOINT"),
    ],
)
def test_statements_are_named_by_their_prepared_name_or_their_verb_and_table(sql: str, key: str) -> None:
    from bench.statement_cost import statement_key

    assert statement_key(sql) == key


def test_each_statement_is_charged_the_backend_cpu_spent_while_it_ran() -> None:
    from bench.statement_cost import StatementCosts

    clock = {"cpu": 0.0}

    def execute(sql: str, params: Any, many: bool, context: Any) -> str:
        clock["cpu"] += 0.002 if "fraud_store" in sql else 0.001  # what the backend spends on it
        return "rows"

    costs = StatementCosts(backend_pid=1, read_cpu=lambda pid: clock["cpu"])
    for sql in ("EXECUTE fraud_velocity_6bd755898eeb (%s)", "EXECUTE fraud_store_5b83d42d68f1 (%s)") * 3:
        assert costs(execute, sql, [], False, {}) == "rows"
    assert costs.counts == {"fraud_velocity": 3, "fraud_store": 3}
    assert costs.seconds == pytest.approx({"fraud_velocity": 0.003, "fraud_store": 0.006})


@pytest.mark.django_db(transaction=True)
def test_a_score_request_costs_the_database_one_decision_insert(credit_model: Any, api_key_for: Any) -> None:
    """Measured on the real database through the platform's application, as the script measures it."""
    from tests.services import require_postgresql

    require_postgresql()
    from bench.statement_cost import measure, report
    from creditplatform.wsgi import application

    call = instructions._wsgi(
        application, "/score", [b'{"age": 35, "revenu": 50000, "historique_impaye": 1}'], api_key_for("analyst")
    )
    result = measure(call, requests=12, warmup=2)
    assert result["statements"]["insert_scoring_decision"]["per_request"] == 1.0
    assert Decision.objects.count() == 14
    assert result["statement_backend_ms"] >= 0 and result["process_ms"] > 0
    lines = report("/score", result)
    assert lines[0].startswith("POST /score: PostgreSQL's CPU per request, by statement (12 requests")
    assert any(line.startswith("insert_scoring_decision ") and " 1.00 " in line for line in lines)
