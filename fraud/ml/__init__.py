"""Fraud model training: the synthetic transaction generator and the training data built from it."""
