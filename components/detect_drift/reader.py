"""Where detect_drift's wrapper and the drift CLI import the reader from: now components._shared.io.

The reader is shared with load_data (`components._shared.io.sources`); this name stays until the
wrapper and the CLI, which other work is moving, import it from there.
"""

from components._shared.io.sources import open_source

__all__ = ["open_source"]
