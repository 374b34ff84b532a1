-- A conversation's message count, kept as messages are added, so that a page of messages
-- never counts the whole conversation.
ALTER TABLE conversations ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET message_count = (
    SELECT COUNT(*) FROM messages m
    WHERE m.company_id = conversations.company_id AND m.conversation_id = conversations.id
);
