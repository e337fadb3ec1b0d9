"""memtrace server: REST API wire-compatible with Memtrace 0.2.0, auth, tenants, CLI and MCP"""
