"""Scoring: metrics (UA, WA, macro-F1, CCC), speaker verification (EER), fold and RESULTS.md tables."""
