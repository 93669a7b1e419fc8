"""The status page: a server-rendered map, table and alert list (see `render`)."""
