"""Shared DRF building blocks: parser, error handler, pagination, strict serializers."""
