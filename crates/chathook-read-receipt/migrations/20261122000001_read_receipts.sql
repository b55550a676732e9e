-- Valid for both SQLite and PostgreSQL.
-- One row per group message: the merged state of every read-receipt callback about it.
CREATE TABLE read_receipts (
    sdk_app_id          BIGINT NOT NULL,
    group_id            TEXT   NOT NULL,
    msg_seq             BIGINT NOT NULL,
    group_type          TEXT,
    read_num            BIGINT,
    unread_num          BIGINT,
    first_event_time_ms BIGINT,
    last_event_time_ms  BIGINT,
    -- Server time of the last write, in Unix milliseconds; retention purges by it.
    updated_at_ms       BIGINT NOT NULL,
    PRIMARY KEY (sdk_app_id, group_id, msg_seq)
);

CREATE INDEX read_receipts_updated_at ON read_receipts (updated_at_ms);

-- The union of every reader ever reported for a message.
CREATE TABLE read_receipt_readers (
    sdk_app_id     BIGINT NOT NULL,
    group_id       TEXT   NOT NULL,
    msg_seq        BIGINT NOT NULL,
    member_account TEXT   NOT NULL,
    PRIMARY KEY (sdk_app_id, group_id, msg_seq, member_account)
);
