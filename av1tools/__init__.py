"""av1tools: AV1 partition research with the real libaom encoder."""

__version__ = "0.1.0"
