"""One module per ``tsdiag`` subcommand; each keeps its top-level imports light."""
