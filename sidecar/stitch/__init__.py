"""Stitching: the I/O around the pure HLS engine. Origin fetches, variant naming, turning
cues and schedules into breaks through the channel actor, filling breaks, render caches."""
