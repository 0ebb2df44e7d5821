"""The app's edge to the issue trackers (issue 25): the outbox handlers that create, read and
poll tickets after commit (effects), and the webhook endpoint that reads their changes back
(receiver). bot.services.tickets decides; bot.trackers speaks each tracker's API."""
