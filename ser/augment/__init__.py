"""Training-time data augmentation applied to batches inside a model's forward (train mode only)."""
