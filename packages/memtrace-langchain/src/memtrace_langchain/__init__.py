"""LangChain and LangGraph integration for memtrace"""
