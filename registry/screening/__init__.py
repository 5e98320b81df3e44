"""Screening counterparties against the registry: name analysis, scoring, batches."""
