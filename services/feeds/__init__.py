"""Feeds: what publishes incidents to Kafka `incidents` — the demo feed, file importers (our JSON
lines and CSV, GTD, ACLED), `surgewatch replay` and `surgewatch publish`.

Every event is checked with the real `services.core.parse.parse` before it is sent, so a feed never
puts on the topic what ingest would reject.
"""
