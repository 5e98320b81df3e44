"""Domain verbs. Each takes (session, actor, ...), checks the rules, changes rows, writes
the Event in the same transaction and flushes; the caller commits once.

No Flask here: the web views, the CLI and the tests call the same functions.
"""
