"""Packed models: one zip archive per trained system (its folds' weights, configs, class list, feature
recipe, fusion weights and priors, RESULTS.md), loadable without the recipe directory, and the
program that runs one on any audio (`ser-infer`, ser.bin.predict). No pickle: weights are torch
state dicts loaded with `weights_only=True`, everything else JSON."""
