-- The sentiment of monitored items and the words that decided it.
ALTER TABLE monitor_items ADD COLUMN sentiment TEXT NOT NULL DEFAULT '中性';
ALTER TABLE monitor_items ADD COLUMN sentiment_words TEXT NOT NULL DEFAULT '';
