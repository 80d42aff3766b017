"""The underwriters' review queue: referred decisions, overrides, four eyes (docs/review.md)."""
