"""avremix: remix the soundtrack of videos using what is on screen."""

__version__ = "0.15.0"
