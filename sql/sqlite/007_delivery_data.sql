-- invois schema, version 7: what a webhook delivery carries (issue 14). Each delivery keeps the
-- resource's view as its GET endpoint rendered it in the transaction of the write (the `data`
-- of the body, after the event's fields): a later change never shows in an earlier event's
-- delivery, and every attempt sends the same bytes. One copy per delivery, so it goes with the
-- delivery (30 days after it ends); NULL for deliveries made before this version (sent as
-- "data": null).

ALTER TABLE webhook_deliveries ADD COLUMN data TEXT;
