"""Preprocessing (paper §4.1, Appendix A.1): sample frames at 3 fps, detect faces, filter, crop, report."""
