-- SQLite only (PostgreSQL has no WITHOUT ROWID): both tables clustered on their primary key.
-- A write then touches one b-tree per table instead of a rowid table plus its key index, so
-- each group commit writes fewer pages to the WAL.
CREATE TABLE read_receipts_clustered (
    sdk_app_id          BIGINT NOT NULL,
    group_id            TEXT   NOT NULL,
    msg_seq             BIGINT NOT NULL,
    group_type          TEXT,
    read_num            BIGINT,
    unread_num          BIGINT,
    first_event_time_ms BIGINT,
    last_event_time_ms  BIGINT,
    updated_at_ms       BIGINT NOT NULL,
    PRIMARY KEY (sdk_app_id, group_id, msg_seq)
) WITHOUT ROWID;

INSERT INTO read_receipts_clustered
SELECT sdk_app_id, group_id, msg_seq, group_type, read_num, unread_num,
       first_event_time_ms, last_event_time_ms, updated_at_ms
FROM read_receipts;

DROP TABLE read_receipts;
ALTER TABLE read_receipts_clustered RENAME TO read_receipts;
CREATE INDEX read_receipts_updated_at ON read_receipts (updated_at_ms);

CREATE TABLE read_receipt_readers_clustered (
    sdk_app_id     BIGINT NOT NULL,
    group_id       TEXT   NOT NULL,
    msg_seq        BIGINT NOT NULL,
    member_account TEXT   NOT NULL,
    PRIMARY KEY (sdk_app_id, group_id, msg_seq, member_account)
) WITHOUT ROWID;

INSERT INTO read_receipt_readers_clustered
SELECT sdk_app_id, group_id, msg_seq, member_account FROM read_receipt_readers;

DROP TABLE read_receipt_readers;
ALTER TABLE read_receipt_readers_clustered RENAME TO read_receipt_readers;
