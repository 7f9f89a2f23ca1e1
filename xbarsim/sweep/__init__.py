"""Parameter sweeps: TOML spec -> executor (local processes or Dask) -> SQLite results store."""
