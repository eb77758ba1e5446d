"""The package version, in one place (records and the CLI read it without importing the package)."""

__version__ = "0.1.0"
