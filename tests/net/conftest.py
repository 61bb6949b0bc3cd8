"""The ads tests' real ad server and beacon receiver, for the URL policy tests."""

from tests.ads.conftest import ad_server, beacon_receiver

__all__ = ["ad_server", "beacon_receiver"]
