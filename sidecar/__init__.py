"""sidecar: live-HLS server-side ad insertion that SRE teams can run, watch and page on."""

__version__ = "0.1.0"
