"""The bridge's engine: tracking, auto-track rules, the outbox, correlation, scheduling.

Qt-free; it sees only the Mailbox port, the CRM gateway, the journal and plain values.
"""
