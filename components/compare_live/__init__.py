"""Live comparison gate: the challenger's shadow predictions against the champion's."""
