"""Gate verdicts beyond the run: Pushgateway figures and gate records, published together."""
