"""Training objectives shared by models: margin-based softmax heads (AM-softmax, AAM-softmax)."""

from ser.losses.margin import AAMSoftmax, AMSoftmax, SoftmaxHead, cosine_logits, make_margin_head

__all__ = ["AAMSoftmax", "AMSoftmax", "SoftmaxHead", "cosine_logits", "make_margin_head"]
