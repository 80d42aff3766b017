"""The retention map covers every field of every model, and docs/privacy.md prints it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.db import models
from django.test.utils import isolate_apps

from creditplatform.retention import Rows
from privacy.management.commands.privacy_map import DOC, END, START
from privacy.retention_map import markdown_table, retention_map, tables_about_clients, uncovered_fields


def test_every_field_of_every_installed_model_is_in_the_retention_map() -> None:
    missing = uncovered_fields()
    assert not missing, f"say in the app's privacy.py what these hold and what erasure does: {missing}"


@isolate_apps("scoring")
def test_a_model_gaining_a_field_the_map_does_not_cover_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from privacy import retention_map as module
    from scoring.models import Client as RealClient

    real = next(t for t in retention_map() if t.model is RealClient)

    class Client(models.Model):
        """scoring.Client as it would be with one more field: a nickname."""

        client_id = models.CharField(max_length=64)
        first_name = models.CharField(max_length=100)
        last_name = models.CharField(max_length=100)
        email = models.EmailField()
        phone = models.CharField(max_length=32)
        birth_date = models.DateField(null=True)
        address = models.TextField()
        erased_at = models.DateTimeField(null=True)
        created_at = models.DateTimeField()
        updated_at = models.DateTimeField()
        nickname = models.CharField(max_length=100)

        class Meta:
            app_label = "scoring"

        def __str__(self) -> str:
            return self.client_id

    monkeypatch.setattr(module, "retention_map", lambda: (module.MappedTable(real.spec, Client),))
    assert uncovered_fields([Client]) == ["scoring.Client.nickname"]


def test_every_table_linked_to_clients_says_how_it_reaches_them() -> None:
    for table in tables_about_clients():
        assert table.spec.rows is not Rows.NOT_ABOUT_CLIENTS, table.label
        assert table.spec.basis or table.spec.rows is Rows.DELETE, f"{table.label}: why are rows kept?"


def test_kept_tables_are_kept_for_a_period_set_in_the_settings() -> None:
    for label in ("scoring.Decision", "fraud.Transaction"):
        table = next(t for t in retention_map() if t.label == label)
        assert table.spec.retention is not None and table.spec.retention.setting
        assert table.retention_days() == getattr(settings, table.spec.retention.setting)


def test_the_map_in_docs_privacy_md_is_the_one_in_the_code() -> None:
    text = Path(DOC).read_text()
    assert START in text and END in text
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == markdown_table().strip(), "run: python manage.py privacy_map --write"


@pytest.mark.parametrize("label", ["scoring.Client", "fraud.Transaction", "scoring.Decision", "admin.LogEntry"])
def test_the_docs_table_names_the_main_tables(label: str) -> None:
    assert f"`{label}`" in markdown_table()


def test_rows_in_payloads_and_a_payload_handler_go_together(monkeypatch: pytest.MonkeyPatch) -> None:
    from creditplatform.retention import Table
    from privacy import retention_map as module

    broken = Table(model="scoring.BatchReject", about="x", rows=Rows.IN_PAYLOAD, columns={})
    monkeypatch.setattr(module, "declared_tables", lambda: [broken])
    module.retention_map.cache_clear()
    try:
        with pytest.raises(ValueError, match="Rows.IN_PAYLOAD and a payload handler go together"):
            module.retention_map()
    finally:
        monkeypatch.undo()
        module.retention_map.cache_clear()
    payload_tables = [t.label for t in module.tables_with_payloads()]
    assert sorted(payload_tables) == ["monitoring.ApiCall", "scoring.BatchChunk"]
    assert all(hasattr(t.payload, "erase") for t in module.tables_with_payloads())


def test_no_table_with_a_retention_period_is_pinned_by_a_table_without_one() -> None:
    """The retention job deletes a row only once nothing points at it: a referencing table without a
    period of its own (webhook deliveries, batch chunks) kept its targets for ever."""
    from privacy.retention_map import pinning_references

    assert pinning_references() == []
