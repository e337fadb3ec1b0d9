"""LlamaIndex integration for memtrace"""
