"""OpenAI Agents SDK integration for memtrace"""
