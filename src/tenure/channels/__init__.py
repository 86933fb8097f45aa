"""Channels: one module each (email, sms, webhook, task) with a class of the same shape.

`tenure.channels.base` holds the Message/Outcome/Channel contract; the modules are imported by
the dispatcher only when a campaign uses them.
"""

CHANNEL_NAMES = ("email", "sms", "webhook", "task")
