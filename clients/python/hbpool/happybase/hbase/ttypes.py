"""hbpool.happybase.hbase.ttypes: HappyBase's exception names (``from happybase.hbase.ttypes
import IOError``), here hbpool's exceptions for the same HBase errors."""

from ...errors import AlreadyExists, IllegalArgument, IOError  # noqa: A004

__all__ = ["AlreadyExists", "IllegalArgument", "IOError"]
