"""Transcripts as CTC targets: character vocabulary, greedy CTC decoding, character error rate."""
