"""The network-facing side: the HTTP API, Prometheus metrics, alerts and the desk's dashboard (``tftrade serve``)."""
