"""GDPR requests live here (erasure and access); see docs/privacy.md for the plan."""
