"""_version: the package's version, kept equal to hbpoold's."""
__version__ = "0.1.0"
