"""What scoring announces. Monitoring listens; scoring never imports monitoring."""

from django.dispatch import Signal

# Sent after decisions are stored: kind ("credit" or "fraud"), outcomes (one per decision).
decisions_recorded = Signal()

# Sent after a credit decision becomes final by a person's decision (after the commit): decision_id.
decision_finalised = Signal()
