"""Where one batch chunk's time goes, per row (docs/batch.md, Performance).

    python bench/batch_profile.py                      # the Python phases of a chunk, CPU µs per row
    python bench/batch_profile.py --scratch --profile  # whole chunks in-process, under pyinstrument

The first form stores nothing: it cuts a file of applicants into chunks as an upload would,
then reads, checks, scores, explains and renders the ``COPY`` text of a few chunks several
times, and prints each phase's CPU time per row (the least of the repeats: the machine's
other work only ever adds to it) and a hash of the stored texts (an optimisation must not
change it). The second form submits a job to the configured database (``--scratch``: it
stores the job and its decisions; use a scratch database) and scores its chunks in this
process, the first one to warm the explainer, the others timed (and profiled with
``--profile``, pyinstrument, a requirements-dev tool).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditplatform.settings")


def python_phases(data: bytes, chunks: int, repeats: int) -> None:
    from django.utils import timezone

    from scoring.batch.files import pack, read_chunk, split_upload
    from scoring.batch.rows import check_rows, score_rows
    from scoring.batch.writer import ChunkContext, Links, _copy_text
    from scoring.ml.predictor import require_model

    model = require_model("credit")
    pieces = split_upload(data, "a.csv", schema=model.schema, chunk_rows=10_000, max_rows=10**7).slices[:chunks]
    phases: dict[str, list[float]] = {"read": [], "check": [], "score and explain": [], "COPY text": []}
    digest = hashlib.sha256()
    rows = 0
    for repeat in range(repeats + 1):
        for piece in pieces:
            stored = pack(piece.payload)
            t0 = time.process_time()
            read = read_chunk(stored, piece.first_row, by_position=False)
            t1 = time.process_time()
            checked = check_rows(model.schema, read)
            t2 = time.process_time()
            scored = score_rows(model, checked, reason_count=3, medium_fraction=0.5, seed=1)
            t3 = time.process_time()
            n = len(scored.rows)
            context = ChunkContext(uuid.UUID(int=1), 1, 0.5, "bench", timezone.now())
            _copy_text(scored, Links([None] * n, [None] * n), context)
            t4 = time.process_time()
            if repeat == 0:  # the first pass warms the explainer's memo and is not timed
                rows += n
                digest.update("".join(scored.features_json + scored.reasons_json).encode())
                continue
            for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                phases[name].append(seconds / n)
    for name, per_row in phases.items():
        print(
            f"{name:>18}: {min(per_row) * 1e6:6.2f} µs/row CPU (median {sorted(per_row)[len(per_row) // 2] * 1e6:.2f})"
        )
    print(f"{'total':>18}: {sum(min(v) for v in phases.values()) * 1e6:6.2f} µs/row CPU over {rows:,} rows")
    print(f"stored texts sha256: {digest.hexdigest()[:16]}")


def whole_chunks(data: bytes, profile: bool) -> None:
    from scoring.batch import services

    services._enqueue = lambda *args, **kwargs: None  # this process scores the chunks itself
    job = services.batch_job_submit(
        data=data, filename="profile.csv", caller="command:bench", source="command", chunk_rows=10_000
    )
    ids = list(job.chunks.order_by("number").values_list("pk", flat=True))
    services.batch_chunk_score(chunk_id=ids[0])
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    times = []
    for pk in ids[1:]:
        started = time.perf_counter()
        assert services.batch_chunk_score(chunk_id=pk).status == "done"
        times.append(time.perf_counter() - started)
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False))
    times.sort()
    median = times[len(times) // 2]
    print(f"{len(times)} chunks of 10,000 rows: median {median * 100:.1f} µs/row, least {times[0] * 100:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=60_000, help="applicants in the file (60,000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over the chunks (5)")
    parser.add_argument("--scratch", action="store_true", help="score whole chunks: stores a job in the database")
    parser.add_argument("--profile", action="store_true", help="with --scratch: print pyinstrument's call tree")
    args = parser.parse_args()

    import django

    django.setup()
    from bench.batch_setup import write_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "applicants.csv"
        write_file(path, args.rows)
        data = path.read_bytes()
    if args.scratch:
        whole_chunks(data, args.profile)
    else:
        python_phases(data, chunks=max(1, min(4, args.rows // 10_000)), repeats=args.repeats)


if __name__ == "__main__":
    main()
