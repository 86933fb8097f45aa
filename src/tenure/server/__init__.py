"""`tenure serve`: the REST API, tracking links, the dashboard and the daily schedule (FastAPI).

The server reads the warehouse and snapshots read-only and writes only the operational store;
anything that writes the warehouse (a run, an erasure) takes the workspace lock.
"""
