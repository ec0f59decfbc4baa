"""Training objectives shared by models (margin softmax heads re-exported here; ccc, weighting, ... as modules)."""

from ser.losses.margin import AAMSoftmax, AMSoftmax, SoftmaxHead, cosine_logits, make_margin_head

__all__ = ["AAMSoftmax", "AMSoftmax", "SoftmaxHead", "cosine_logits", "make_margin_head"]
