"""The `train` command: balanced, resumable training of one model (paper §4.1, Appendix A.4)."""
