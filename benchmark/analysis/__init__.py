"""From raw samples to figures: windows and percentiles, breaking points, stage decomposition, capacity."""
