"""CrewAI integration for memtrace"""
