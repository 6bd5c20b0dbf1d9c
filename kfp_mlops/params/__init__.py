"""Pipeline parameters from files and `-p key=value`, checked against the compiled spec."""
