//! What the scenarios send: the body of each request as wrk's Lua makes it, the same
//! callbacks as the store floor makes them in Rust, and the pre-fill of a store grown to
//! millions of messages.
//!
//! The read-receipt workloads come in two shapes. `SingleGroup` is one group with MsgSeq
//! rising: SQLite's best case, every write at the end of one b-tree. `ManyGroups` is a real
//! app's traffic: `groups` groups, MsgSeq rising within each, one to three readers out of
//! [`USERS`], and `redeliver_percent` of the callbacks a repeat of one of the last
//! [`REDELIVERY_WINDOW`] new ones, as Chat sends again what it believes unanswered: the merge
//! path. Every new callback carries two new messages, so a store's message count tells how
//! many new callbacks it holds.

use std::collections::{BTreeMap, BTreeSet};

use chathook_read_receipt::model::{MessageKey, ReceiptState};

/// Readers are drawn from this many members.
pub(crate) const USERS: u32 = 10_000;
/// A redelivery repeats one of the last this many new callbacks.
pub(crate) const REDELIVERY_WINDOW: usize = 1000;
/// `EventTime` of the first callback; each later one is a millisecond later.
const EPOCH_MS: i64 = 1_700_000_000_000;

/// A scenario's requests.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Workload {
    /// The same sample body every time.
    Fixed(&'static str),
    /// A read receipt for two new messages of one group every request.
    SingleGroup,
    /// Read receipts across many groups, with redeliveries.
    ManyGroups {
        /// Groups written.
        groups: u32,
        /// Share of callbacks that repeat an earlier one, in percent.
        redeliver_percent: u32,
    },
    /// A new group message every request (its own MsgSeq, Random and MsgId), so no two
    /// bodies share a `Nats-Msg-Id`.
    NewMessages,
}

/// A many-groups group's id; the pre-fill and both generators agree on it.
pub(crate) fn group_id(group: u32) -> String {
    format!("@TGS#bench{group:06}")
}

impl Workload {
    /// The Lua that defines `make_body()` for wrk, and counts new callbacks in `new_sent`.
    /// MsgSeq of a many-groups workload starts above `first_seq` in every group, so that it
    /// follows a pre-fill.
    pub(crate) fn lua(&self, first_seq: i64) -> String {
        match *self {
            Workload::Fixed(body) => format!(
                "local fixed = [==[{}]==]\nfunction make_body() return fixed end\n",
                body.trim()
            ),
            Workload::SingleGroup => r#"
counter = 0
function make_body()
  counter = counter + 1
  new_sent = new_sent + 1
  local seq = (index + 1) * 1000000000 + counter * 2
  return string.format('{"CallbackCommand":"Group.CallbackAfterReadReceipt","GroupId":"@TGS#bench","Type":"Public","GroupMsgReceiptList":[{"MsgSeq":%d,"ReadNum":1,"UnreadNum":99,"ReadReceiptMembers":[{"Member_Account":"user%d"}]},{"MsgSeq":%d,"ReadNum":2,"UnreadNum":98,"ReadReceiptMembers":[{"Member_Account":"user%d"},{"Member_Account":"owner"}]}],"EventTime":%d}', seq, counter, seq + 1, counter, 1700000000000 + counter)
end
"#
            .to_owned(),
            Workload::ManyGroups {
                groups,
                redeliver_percent,
            } => format!(
                r#"
math.randomseed(7 + index)
local next_seq = {{}}
local recent = {{}}
function make_body()
  if new_sent > 0 and math.random(100) <= {redeliver_percent} then
    return recent[math.random(math.min(new_sent, {REDELIVERY_WINDOW}))]
  end
  local group = math.random({groups}) - 1
  local seq = next_seq[group] or {first_seq} + 1
  next_seq[group] = seq + 2
  local readers = math.random(3)
  local members = {{}}
  for i = 1, readers do
    members[i] = string.format('{{"Member_Account":"user%d"}}', math.random({USERS}) - 1)
  end
  members = table.concat(members, ",")
  new_sent = new_sent + 1
  local body = string.format('{{"CallbackCommand":"Group.CallbackAfterReadReceipt","GroupId":"@TGS#bench%06d","Type":"Public","GroupMsgReceiptList":[{{"MsgSeq":%d,"ReadNum":%d,"UnreadNum":%d,"ReadReceiptMembers":[%s]}},{{"MsgSeq":%d,"ReadNum":%d,"UnreadNum":%d,"ReadReceiptMembers":[%s]}}],"EventTime":%d}}', group, seq, readers, 100 - readers, members, seq + 1, readers, 100 - readers, members, {EPOCH_MS} + new_sent)
  recent[(new_sent - 1) % {REDELIVERY_WINDOW} + 1] = body
  return body
end
"#
            ),
            Workload::NewMessages => r#"
counter = 0
function make_body()
  counter = counter + 1
  local seq = (index + 1) * 1000000000 + counter
  return string.format('{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#bench","Type":"Public","From_Account":"user%d","Operator_Account":"user%d","Random":%d,"MsgSeq":%d,"MsgId":"%d-1700000000-%d","MsgTime":1700000000,"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"@tommy hello %d"}}],"CloudCustomData":"your cloud custom data","EventTime":%d,"GroupAtInfo":[{"GroupAtAllFlag":0,"GroupAt_Account":"tommy"}]}', counter, counter, seq, seq, seq, seq, counter, 1700000000000 + counter)
end
"#
            .to_owned(),
        }
    }
}

/// The callbacks of a read-receipt workload as the handler makes them, for the store floor:
/// the same shapes and proportions as the Lua, from a seeded generator.
pub(crate) struct Callbacks {
    workload: Workload,
    app: i64,
    first_seq: i64,
    random: fastrand::Rng,
    /// Callbacks made so far, redeliveries included.
    made: u64,
    /// Per group, the next MsgSeq.
    next_seq: BTreeMap<u32, i64>,
    recent: Vec<BTreeMap<MessageKey, ReceiptState>>,
    new_made: u64,
}

impl Callbacks {
    /// The callbacks of `workload` for app `app`, MsgSeq above `first_seq`.
    pub(crate) fn new(workload: Workload, app: i64, first_seq: i64) -> Self {
        Self {
            workload,
            app,
            first_seq: match workload {
                // As wrk's thread 0 numbers them.
                Workload::SingleGroup => 1_000_000_000,
                _ => first_seq,
            },
            random: fastrand::Rng::with_seed(7),
            made: 0,
            next_seq: BTreeMap::new(),
            recent: Vec::new(),
            new_made: 0,
        }
    }

    /// The next callback as Chat would send it.
    pub(crate) fn next_body(&mut self) -> String {
        let callback = self.next_callback().expect("a read-receipt workload");
        let group = callback.keys().next().map(|key| key.group_id.clone());
        let receipts: Vec<serde_json::Value> = callback
            .iter()
            .map(|(key, state)| {
                serde_json::json!({
                    "MsgSeq": key.msg_seq,
                    "ReadNum": state.read_num,
                    "UnreadNum": state.unread_num,
                    "ReadReceiptMembers": state.readers.iter()
                        .map(|reader| serde_json::json!({ "Member_Account": reader }))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let time = callback
            .values()
            .next()
            .and_then(|state| state.last_event_time_ms);
        serde_json::json!({
            "CallbackCommand": "Group.CallbackAfterReadReceipt",
            "GroupId": group,
            "Type": "Public",
            "GroupMsgReceiptList": receipts,
            "EventTime": time,
        })
        .to_string()
    }

    /// New callbacks made so far; the rest were redeliveries.
    pub(crate) fn new_made(&self) -> u64 {
        self.new_made
    }

    /// Callbacks made so far, redeliveries included.
    pub(crate) fn made(&self) -> u64 {
        self.made
    }

    /// The next callback; `None` for a workload that is not read receipts.
    pub(crate) fn next_callback(&mut self) -> Option<BTreeMap<MessageKey, ReceiptState>> {
        self.made += 1;
        let (group, seq, readers) = match self.workload {
            Workload::SingleGroup => {
                self.new_made += 1;
                let seq = self.first_seq + self.new_made as i64 * 2;
                let reader = format!("user{}", self.new_made);
                (
                    "@TGS#bench".to_owned(),
                    seq,
                    [vec![reader.clone()], vec![reader, "owner".to_owned()]],
                )
            }
            Workload::ManyGroups {
                groups,
                redeliver_percent,
            } => {
                if !self.recent.is_empty() && self.random.u32(1..=100) <= redeliver_percent {
                    let index = self.random.usize(..self.recent.len());
                    return Some(self.recent[index].clone());
                }
                let group = self.random.u32(..groups);
                let next = self.next_seq.entry(group).or_insert(self.first_seq + 1);
                let seq = *next;
                *next += 2;
                let count = self.random.u32(1..=3);
                let readers: Vec<String> = (0..count)
                    .map(|_| format!("user{}", self.random.u32(..USERS)))
                    .collect();
                self.new_made += 1;
                (group_id(group), seq, [readers.clone(), readers])
            }
            Workload::Fixed(_) | Workload::NewMessages => return None,
        };
        let time = EPOCH_MS + self.new_made as i64;
        let callback: BTreeMap<MessageKey, ReceiptState> = readers
            .into_iter()
            .zip([seq, seq + 1])
            .map(|(readers, msg_seq)| {
                let read = readers.len() as i64;
                let key = MessageKey {
                    sdk_app_id: self.app,
                    group_id: group.clone(),
                    msg_seq,
                };
                let state = ReceiptState {
                    group_type: Some("Public".into()),
                    read_num: Some(read),
                    unread_num: Some(100 - read),
                    first_event_time_ms: Some(time),
                    last_event_time_ms: Some(time),
                    readers: readers.into_iter().collect::<BTreeSet<_>>(),
                };
                (key, state)
            })
            .collect();
        if matches!(self.workload, Workload::ManyGroups { .. }) {
            let slot = (self.new_made as usize - 1) % REDELIVERY_WINDOW;
            if slot < self.recent.len() {
                self.recent[slot] = callback.clone();
            } else {
                self.recent.push(callback.clone());
            }
        }
        Some(callback)
    }
}

/// Messages a pre-fill of `messages` gives each of `groups` groups; the workload's MsgSeq
/// starts above it.
pub(crate) fn prefilled_per_group(messages: u64, groups: u32) -> i64 {
    messages.div_ceil(u64::from(groups.max(1))) as i64
}

/// Grows an empty store to `messages` messages spread evenly over the many-groups workload's
/// `groups` groups (MsgSeq 1, 2, ... in each), each with two readers, outside HTTP: one SQL
/// statement per million messages, generating the rows in key order inside the database
/// (SQLite: a recursive CTE, with `synchronous = OFF` while it runs; PostgreSQL:
/// `generate_series`). Returns the messages stored.
pub(crate) async fn prefill(
    url: &str,
    app: i64,
    messages: u64,
    groups: u32,
) -> anyhow::Result<u64> {
    use sqlx::Connection as _;

    const CHUNK: u64 = 1_000_000;
    let per_group = prefilled_per_group(messages, groups);
    let sqlite = url.starts_with("sqlite:");
    // Row i is message (i / per_group + 1)-th group's seq i % per_group + 1: key order.
    let (receipts, readers) = if sqlite {
        (
            "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) \
             INSERT INTO read_receipts (sdk_app_id, group_id, msg_seq, group_type, read_num, \
             unread_num, first_event_time_ms, last_event_time_ms, updated_at_ms) \
             SELECT ?3, printf('@TGS#bench%06d', i / ?4), i % ?4 + 1, 'Public', 2, 98, \
             1600000000000 + i, 1600000000000 + i, ?5 FROM n",
            "WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2) \
             INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
             SELECT ?3, printf('@TGS#bench%06d', i / ?4), i % ?4 + 1, member \
             FROM n, (SELECT 'owner' AS member UNION ALL SELECT 'reader') ORDER BY i, member",
        )
    } else {
        (
            "INSERT INTO read_receipts (sdk_app_id, group_id, msg_seq, group_type, read_num, \
             unread_num, first_event_time_ms, last_event_time_ms, updated_at_ms) \
             SELECT $3, '@TGS#bench' || lpad((i / $4)::text, 6, '0'), i % $4 + 1, 'Public', 2, \
             98, 1600000000000 + i, 1600000000000 + i, $5 FROM generate_series($1, $2 - 1) AS i",
            "INSERT INTO read_receipt_readers (sdk_app_id, group_id, msg_seq, member_account) \
             SELECT $3, '@TGS#bench' || lpad((i / $4)::text, 6, '0'), i % $4 + 1, member \
             FROM generate_series($1, $2 - 1) AS i, (VALUES ('owner'), ('reader')) AS m(member) \
             ORDER BY i, member",
        )
    };
    let total = per_group * i64::from(groups);
    let now = chathook_core::auth::unix_now() as i64 * 1000;
    macro_rules! fill {
        ($connection:expr) => {{
            let mut start = 0i64;
            while start < total {
                let end = (start + CHUNK as i64).min(total);
                for statement in [receipts, readers] {
                    sqlx::query(statement)
                        .bind(start)
                        .bind(end)
                        .bind(app)
                        .bind(per_group)
                        .bind(now)
                        .execute(&mut $connection)
                        .await?;
                }
                start = end;
            }
        }};
    }
    if sqlite {
        let mut connection = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("PRAGMA synchronous = OFF")
            .execute(&mut connection)
            .await?;
        fill!(connection);
        // Leaves the WAL empty, as a store that has been running a while would be.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut connection)
            .await?;
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        fill!(connection);
        sqlx::query("VACUUM ANALYZE read_receipts")
            .execute(&mut connection)
            .await?;
        sqlx::query("VACUUM ANALYZE read_receipt_readers")
            .execute(&mut connection)
            .await?;
    }
    Ok(total as u64)
}
