"""Delivery building blocks: subscriptions and matching, schedules, digest rendering, SMTP
and signed webhooks. Pure or near-pure: no database and no events here; the followers that
use them record the events around each call."""
