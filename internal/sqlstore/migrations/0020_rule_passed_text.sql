-- A booking rule's second text, for when it passes (the booking page lists
-- the conditions met under "已符合 N 项条件" and the API gives every verdict
-- both texts): message_zh / message_en say what failed and what to do,
-- passed_zh / passed_en what was met ("已获互联网诊疗资质"). Empty on the
-- rows written before: the verdict then says neutrally that the condition
-- is met, never the refusal. A demo database is given its rules' texts by
-- the demo loader on its next start.
ALTER TABLE policy_rules ADD COLUMN passed_zh TEXT NOT NULL DEFAULT '';
ALTER TABLE policy_rules ADD COLUMN passed_en TEXT NOT NULL DEFAULT '';
