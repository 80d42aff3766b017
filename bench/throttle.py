"""Cost of the API throttle's decision for one request, in one process, on the real Redis.

Times ``PrincipalRateThrottle.allow_request`` (wall and process CPU) for one API key at the default rate
(``THROTTLE_RATE_APIKEY``, 100000/min), every request admitted, and counts the Redis
commands it sent. Run with ``REDIS_URL`` set (and the project's environment):
``python bench/throttle.py [--rounds 7] [--requests 5000] [--lease-max N]``; ``--lease-max 1``
is the throttle without leases (one ``INCR`` per request). Figures are per request, the
median of the rounds, on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--lease-max", type=int, default=None, help="THROTTLE_LEASE_MAX for this run")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from accounts import throttling
    from accounts.principals import ServicePrincipal
    from accounts.roles import Role

    if not isinstance(caches["default"], RedisCache):
        raise SystemExit("set REDIS_URL: the throttle is measured on Redis")
    if args.lease_max is not None:
        settings.THROTTLE_LEASE_MAX = args.lease_max

    client = throttling._redis_client(caches["default"])
    sent = [0]
    execute = client.execute_command

    def counting(*command: Any, **options: Any) -> Any:
        sent[0] += 1
        return execute(*command, **options)

    client.execute_command = counting
    view = APIView()
    throttle = throttling.PrincipalRateThrottle()
    per_request, cpu, commands = [], [], []
    for _ in range(args.rounds):
        request = Request(APIRequestFactory().get("/api/v1/score"))
        request.user = ServicePrincipal(label=f"apikey:bench-{uuid.uuid4().hex[:12]}", role=Role.ANALYST)  # type: ignore[assignment]
        sent[0] = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        admitted = sum(throttle.allow_request(request, view) for _ in range(args.requests))
        elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
        assert admitted == args.requests, "every request is under the rate"
        per_request.append(elapsed / args.requests * 1e6)
        cpu.append(cpu_used / args.requests * 1e6)
        commands.append(sent[0] / args.requests)
    lease_max = getattr(settings, "THROTTLE_LEASE_MAX", "(none)")
    print(
        f"THROTTLE_LEASE_MAX={lease_max}: {statistics.median(per_request):.1f} us per request "
        f"(rounds: {', '.join(f'{v:.1f}' for v in per_request)}), "
        f"{statistics.median(cpu):.1f} us of process CPU, "
        f"{statistics.median(commands):.3f} Redis commands per request"
    )


if __name__ == "__main__":
    main()
