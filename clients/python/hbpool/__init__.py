"""hbpool: HBase through the local hbpoold daemon.

``hbpool.happybase`` is HappyBase's API and ``hbpool.aio`` AIOHappyBase's, both over hbpoold's
Unix socket; ``hbpool.errors`` holds the exceptions.
"""

from ._version import __version__
from .errors import HBPoolError

__all__ = ["__version__", "HBPoolError"]
