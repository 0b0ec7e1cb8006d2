"""The paper's tables, rebuilt from the tidy metrics table alone (so published numbers can be fed in too)."""
