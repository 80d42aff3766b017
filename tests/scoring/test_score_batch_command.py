"""``python manage.py score_batch FILE``: the seed's columns only, 20,000 applicants, some bad rows."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from scoring.models import BatchJob, Decision, ModelVersion
from tests.scoring.batchfiles import applicants_csv, replace_lines

pytestmark = pytest.mark.django_db(transaction=True)  # as a command runs: tasks leave when the job commits


def score_batch(path: Path, *options: str) -> str:
    out = io.StringIO()
    call_command("score_batch", str(path), *options, stdout=out)
    return out.getvalue()


def test_a_file_of_twenty_thousand_applicants_with_the_seeds_columns_is_scored_whole(
    credit_model: ModelVersion, tmp_path: Path
) -> None:
    path = tmp_path / "seed.csv"
    path.write_text(applicants_csv(20_000, seed=21))
    assert path.read_text().splitlines()[0] == "age,revenu,historique_impaye"
    output = score_batch(path, "--wait")
    job = BatchJob.objects.get()
    assert f"Batch job {job.pk}: 20000 rows in 2 chunk(s), csv, credit model {credit_model.version}" in output
    assert "Scored:   20000\nRejected: 0\n" in output
    assert "Time:" in output and "Status:   completed" in output
    assert Decision.objects.filter(batch_job=job).count() == 20_000


def test_bad_rows_are_rejected_with_their_line_numbers_and_the_rest_is_scored(
    credit_model: ModelVersion, tmp_path: Path
) -> None:
    bad = {7: "16,120,0", 100: "45,,1", 5001: "40,abc,0", 12345: "38,200", 20001: "52,100,1.5"}
    path = tmp_path / "seed.csv"
    path.write_text(replace_lines(applicants_csv(20_000, seed=22), bad))
    result, rejects = tmp_path / "result.csv", tmp_path / "rejects.csv"
    output = score_batch(path, "--result", str(result), "--rejects", str(rejects))
    assert "Scored:   19995\nRejected: 5\n" in output
    assert output.splitlines()[-7:-2] == [
        "  line 7: age: Ensure this value is greater than or equal to 17.",
        "  line 100: revenu: This field is required.",
        "  line 5001: revenu: A valid number is required.",
        "  line 12345: row: Expected 3 values, found 2.",
        "  line 20001: historique_impaye: A valid integer is required.",
    ]
    scored_lines = {int(line.split(",", 1)[0]) for line in result.read_text().splitlines()[1:]}
    assert scored_lines == set(range(2, 20_002)) - set(bad)
    assert rejects.read_text().splitlines()[0] == "row,field,reason"


def test_a_file_that_cannot_be_scored_is_an_error_naming_the_problem(
    credit_model: ModelVersion, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("age,income,historique_impaye\n35,1,0\n")
    with pytest.raises(CommandError, match="wrong.csv: Unknown columns: income"):
        score_batch(path)
    with pytest.raises(CommandError, match="No such file"):
        score_batch(tmp_path / "missing.csv")
    assert not BatchJob.objects.exists()
