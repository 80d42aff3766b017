"""PostgreSQL refuses a row naming an erased client: a credit application, a decision (here) or a
transaction (fraud 0013), inserted, or moved onto it.

The services refuse an erased client before they write; this covers the race they cannot see: a
``/score`` or ``/fraude`` that read the client just before its erasure committed. The look-up
takes ``FOR KEY SHARE``, the lock the foreign key takes anyway: it waits for the erasure's lock on
the client, then reads the committed row, erased, and raises ``foreign_key_violation`` of
constraint ``client_not_erased`` (``scoring.services.client_erased_meanwhile`` answers the 400).

A plain trigger, not django-pgtrigger's: pgtrigger's functions start by reading its
``pgtrigger.ignore`` setting inside an exception block, a subtransaction on every row, which cost
an insert about 50 µs on the decision and fraud paths (measured: 120 against 165-180 µs a
transaction insert); this function costs none measurable. Rows naming no client never call it.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION client_not_erased() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.client_id IS NOT DISTINCT FROM OLD.client_id THEN
        RETURN NEW;
    END IF;
    PERFORM 1 FROM scoring_client WHERE id = NEW.client_id AND erased_at IS NULL FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'client % was erased: it takes no new data', NEW.client_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'client_not_erased';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""


def trigger(table: str) -> tuple[str, str]:
    """The (create, drop) SQL of the ``client_not_erased`` trigger on ``table``."""
    name = f"{table}_client_not_erased"
    create = (
        f"CREATE TRIGGER {name} BEFORE INSERT OR UPDATE OF client_id ON {table} "
        f"FOR EACH ROW WHEN (NEW.client_id IS NOT NULL) EXECUTE FUNCTION client_not_erased();"
    )
    return create, f"DROP TRIGGER IF EXISTS {name} ON {table};"


def on_postgresql(*statements: str):
    """Run the statements on PostgreSQL only (SQLite, the embedded default, has no such race: one writer)."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql, None)  # no parameters: the "%" of RAISE is literal

    return run


TABLES = ("scoring_creditapplication", "scoring_decision")


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0021_review_case_withdrawn_by_erasure"),
    ]

    operations = [
        migrations.RunPython(
            on_postgresql(FUNCTION, *(trigger(table)[0] for table in TABLES)),
            on_postgresql(*(trigger(table)[1] for table in TABLES), "DROP FUNCTION IF EXISTS client_not_erased();"),
        ),
    ]
