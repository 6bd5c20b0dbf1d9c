"""Local runs of compiled specs with kfp.local, and the summaries read from their outputs."""
