"""The outbox: side effects decided in a transaction, carried out once after it commits.

A service that wants something done in Slack (or a tracker) writes an `OutboxItem` row in
the same transaction as its decision (`store.enqueue`); it holds no client and calls no one.
After commit, whichever process claims the row first carries it out (`relay.Relay`), with
the handler registered for its kind (the Slack layer's are in bot.slack.effects), and
records what came back in a second short transaction. A crash loses nothing: a row left
pending is claimed by the next poll, a row left claimed past its lease is claimed again,
and handlers check before repeating what Slack may already have done.

- kinds.py   the names of the kinds, for services to ask for them without importing Slack
- store.py   enqueue, claim, mark sent, retry later, give up: the row's life in SQL
- relay.py   claims due rows, hands them to their handlers, records the outcome
"""
