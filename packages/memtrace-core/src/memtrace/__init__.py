"""memtrace: plain-text, temporal, structured memory for AI agents (engine, stores, client)"""
