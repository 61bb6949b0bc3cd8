"""Ad decisioning inputs: the VAST 2/3/4 client (``sidecar.ads.vast``)."""
