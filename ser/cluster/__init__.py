"""Clustering of frame features: multi-scale k-means pseudo-labels (GMP-ATL stage 3, HuBERT-style targets)."""
